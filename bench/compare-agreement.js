// Do two runs of `msup compare` on the same machine agree? (issue 11: "two runs on the same machine agree on
// every ratio within ±20%"). Runs `msup compare --json` twice on the demo, one after the other, or reads two
// results given as files; then, for every runtime other than process and every row that is not a count,
// takes its ratio to the process runtime's figure in each run (from version 2 of the result, the result's
// own ratio: the mean of the middle rounds' ratios, or for the first-request rows the median of every
// request over every one of process's; or the figure itself where process has none) and prints how far the
// two runs' ratios are apart, and whether a run marked
// the figure noisy (its 95% interval from the rounds past ±20%: the report's own mark). Exits 1 when a figure that
// neither run marked noisy is more than 20% apart. Not part of `npm test`.
//
//   node bench/compare-agreement.js [--rounds R] [--requests N] [--runtimes process,function] [--keep DIR]
//   node bench/compare-agreement.js first.json second.json
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const BOUND = 0.2;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string' },
    requests: { type: 'string' },
    runtimes: { type: 'string' },
    keep: { type: 'string' },
  },
});

function compareOnce(i) {
  const args = [path.join(ROOT, 'bin', 'msup.js'), 'compare', '--json'];
  if (values.rounds) args.push('--rounds', values.rounds);
  if (values.runtimes) args.push('--runtimes', values.runtimes);
  if (values.requests) args.push('--requests', values.requests);
  return new Promise((resolve, reject) => {
    const began = Date.now();
    process.stderr.write(`run ${i}: msup ${args.slice(1).join(' ')}\n`);
    execFile(process.execPath, args, { cwd: ROOT, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`compare failed: ${error.message}\n${stderr}`));
      process.stderr.write(`run ${i}: ${((Date.now() - began) / 1000).toFixed(0)} s\n`);
      resolve(stdout);
    });
  });
}

const texts =
  positionals.length === 2
    ? positionals.map((file) => readFileSync(file, 'utf8'))
    : [await compareOnce(1), await compareOnce(2)];
if (values.keep) {
  mkdirSync(values.keep, { recursive: true });
  texts.forEach((text, i) => {
    writeFileSync(path.join(values.keep, `compare-${i + 1}.json`), text);
  });
}
const [a, b] = texts.map((text) => JSON.parse(text));

const COUNTS = new Set([
  'requestsSent',
  'requestsAnswered',
  'errors5xx',
  'errors429',
  'errors4xx',
  'errorsConnection',
  'errorsTimeout',
  'recoveryFailed',
  'coldStarts',
  'environmentsPeak',
]);
const metric = (result, runtime, id) =>
  result.runtimes.find((r) => r.runtime === runtime && r.status === 'ran')?.metrics.find((m) => m.id === id);

/**
 * The figure compared across runs: the ratio to process, or the value where process has none. From version 2
 * on, the result's own ratio; before, the ratio of the two medians.
 */
function figure(result, runtime, id) {
  const m = metric(result, runtime, id);
  const own = m?.value;
  if (typeof own !== 'number') return null;
  if (result.version >= 2 && m.ratio && typeof m.ratio.value === 'number') {
    return { kind: 'ratio', value: m.ratio.value };
  }
  const base = metric(result, 'process', id)?.value;
  if (typeof base === 'number' && base > 0) return { kind: 'ratio', value: own / base };
  return { kind: 'value', value: own };
}

/** Did a run mark this figure noisy: its ratio's rounds (version 2), else its rounds or process's? */
function flaggedIn(result, runtime, id) {
  const m = metric(result, runtime, id);
  if (result.version >= 2 && m?.ratio) return m.ratio.noisy;
  return Boolean(m?.noisy || metric(result, 'process', id)?.noisy);
}

const lines = [];
let compared = 0;
let apart = 0;
let trusted = 0;
let trustedApart = 0;
for (const r of a.runtimes) {
  if (r.runtime === 'process' || r.status !== 'ran') continue;
  for (const m of r.metrics) {
    if (COUNTS.has(m.id)) continue;
    const fa = figure(a, r.runtime, m.id);
    const fb = figure(b, r.runtime, m.id);
    if (!fa || !fb || fa.kind !== fb.kind) continue;
    const low = Math.min(fa.value, fb.value);
    const high = Math.max(fa.value, fb.value);
    const diff = high === low ? 0 : low > 0 ? high / low - 1 : Number.POSITIVE_INFINITY;
    // Did either run tell the user not to trust this figure (its rounds more than 20% apart)?
    const flagged = [a, b].some((result) => flaggedIn(result, r.runtime, m.id));
    compared++;
    const within = diff <= BOUND;
    if (!within) apart++;
    if (!flagged) {
      trusted++;
      if (!within) trustedApart++;
    }
    const show = (f) => (f.kind === 'ratio' ? `${f.value.toFixed(3)}×` : f.value.toPrecision(4));
    lines.push(
      `${r.runtime.padEnd(9)} ${m.id.padEnd(18)} ${fa.kind.padEnd(5)} ${show(fa).padStart(10)} ${show(fb).padStart(10)}  ${(diff * 100).toFixed(1).padStart(5)}%${flagged ? '  noisy' : ''}${within ? '' : '  apart'}`,
    );
  }
}

const machine = (result) =>
  `${result.machine.cpus} cores, ${result.machine.cpuModel}, Node ${result.machine.node}, load ${result.machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}, rounds ${result.settings.rounds}, noisy: ${result.noisy}${result.background?.share != null ? ` (other work ${(result.background.share * 100).toFixed(1)}% of the CPU while idle, the most ${(result.background.max * 100).toFixed(1)}%)` : ''}`;
console.log(`run 1: ${a.startedAt}, ${machine(a)}`);
console.log(`run 2: ${b.startedAt}, ${machine(b)}`);
console.log(`on ${os.hostname()}; ratios to the process runtime (or the value where process has none)\n`);
console.log(
  `${'runtime'.padEnd(9)} ${'row'.padEnd(18)} ${'kind'.padEnd(5)} ${'run 1'.padStart(10)} ${'run 2'.padStart(10)}  apart`,
);
for (const line of lines) console.log(line);
console.log(
  `\n${compared - apart} of ${compared} figures agree within ±${BOUND * 100}% (the larger over the smaller, minus one)`,
);
console.log(
  `${trusted - trustedApart} of ${trusted} figures that neither run marked noisy agree within ±${BOUND * 100}%; ` +
    `${compared - trusted} were marked noisy by a run (their 95% interval from the rounds past ±${BOUND * 100}%; before 2026-12-04 night: their rounds more than ${BOUND * 100}% apart)`,
);
process.exitCode = trustedApart === 0 ? 0 : 1;
