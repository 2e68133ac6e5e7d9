// Do two runs of `msup compare` on the same machine agree? (issue 11: "two runs on the same machine agree on
// every ratio within ±20%"). Runs `msup compare --json` twice on the demo, one after the other, or reads two
// results given as files; then, for every runtime other than process and every row that is not a count,
// takes its ratio to the process runtime's figure in each run (from version 2 of the result, the result's
// own ratio: the mean of the middle rounds' ratios, or for the first-request rows the median of every
// request over every one of process's; or the figure itself where process has none) and prints how far the
// two runs' ratios are apart, and whether a run marked
// the figure noisy (its 95% interval from the rounds past ±14.1%, 20%/√2, since 2026-12-07: the report's own
// mark). Exits 1 when a figure that
// neither run marked noisy is more than 20% apart. Not part of `npm test`.
//
// With --pairs N, runs N pairs one after the other (each run kept in DIR/pair-K as it ends, with --keep) and
// prints how many agreed on every figure, and each row's largest distance over the pairs: two runs agreeing
// is a rate, and one pair says little of it. --summary reads pairs kept before (folders with compare-1.json
// and compare-2.json, or a --keep folder of --pairs with its pair-K folders) and prints the same. Both exit
// 1 when a pair has any figure more than 20% apart, marked noisy or not, and 2 when there is no pair.
// --recompute (with --summary or two files) takes every ratio again from the rounds and single requests the
// runs kept, with this build's code (dist/compare/metrics.js): a change to how a ratio is taken is weighed
// on the pairs already run, before any new one. --first R (with --summary or two files) cuts every run to its
// first R rounds and takes every figure and ratio again from them: what the same runs would have agreed on
// had each stopped there (such as five rounds, against the rounds added while figures were marked).
//
//   node bench/compare-agreement.js [--rounds R] [--max-rounds M] [--requests N] [--runtimes process,function] [--keep DIR]
//   node bench/compare-agreement.js --pairs N [--rounds R] [--max-rounds M] [--requests N] [--runtimes …] [--keep DIR]
//   node bench/compare-agreement.js [--recompute] first.json second.json
//   node bench/compare-agreement.js --summary [--recompute] [--first R] DIR [DIR ...]
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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
    'max-rounds': { type: 'string' },
    requests: { type: 'string' },
    runtimes: { type: 'string' },
    keep: { type: 'string' },
    pairs: { type: 'string' },
    summary: { type: 'boolean' },
    recompute: { type: 'boolean' },
    first: { type: 'string' },
  },
});

/**
 * A kept result as this build would fold it: each runtime's ratios taken again from its rounds and samples,
 * over the baseline's runs beside its own where the result kept them (`baselineRounds`, from 2026-12-06),
 * else over the baseline's figures of the same round.
 */
const first = values.first === undefined ? undefined : Number(values.first);
if (first !== undefined && !(Number.isInteger(first) && first >= 1)) {
  console.error(`--first: expected a whole number of rounds from 1, got "${values.first}"`);
  process.exit(2);
}
const { median, spread, uncertainty, isNoisy } = await import(path.join(ROOT, 'dist', 'compare', 'stats.js'));

/**
 * A kept run as if it had stopped after its first `first` rounds (--first): every row's rounds and single
 * requests, and the baseline's runs beside each runtime, cut there, and each row's own figure, spread, interval and
 * mark taken again from them (the ratios are taken again by recompute).
 */
function cutRounds(result) {
  if (first === undefined || first >= result.settings.rounds) return result;
  const cut = (list) => list?.slice(0, first);
  const runtimes = result.runtimes.map((r) => ({
    ...r,
    ...(r.baselineRounds
      ? { baselineRounds: { values: cut(r.baselineRounds.values), samples: cut(r.baselineRounds.samples) } }
      : {}),
    metrics: r.metrics.map((m) => {
      const rounds = cut(m.rounds);
      const count = COUNTS.has(m.id);
      // The ratio of every round is not kept: recompute takes it again from the cut rounds.
      return {
        ...m,
        ratio: null,
        rounds,
        ...(m.samples ? { samples: cut(m.samples) } : {}),
        value: median(rounds),
        spread: count ? null : spread(rounds),
        uncertainty: count ? null : uncertainty(rounds),
        noisy: count ? false : isNoisy(rounds),
      };
    }),
  }));
  return { ...result, settings: { ...result.settings, rounds: first }, runtimes };
}

const recompute =
  values.recompute || first !== undefined
    ? await import(path.join(ROOT, 'dist', 'compare', 'metrics.js')).then(
        ({ withPairedRatios }) =>
          (kept) => {
            const result = cutRounds(kept);
            const base = result.runtimes.find(
              (r) => r.runtime === (result.baseline ?? 'process') && r.status === 'ran',
            );
            if (!base) return result;
            const runtimes = result.runtimes.map((r) =>
              r === base || r.status !== 'ran' ? r : withPairedRatios(r, base),
            );
            return { ...result, runtimes };
          },
      )
    : (result) => result;

function compareOnce(i) {
  const args = [path.join(ROOT, 'bin', 'msup.js'), 'compare', '--json'];
  if (values.rounds) args.push('--rounds', values.rounds);
  if (values['max-rounds']) args.push('--max-rounds', values['max-rounds']);
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

/** Keeps a run's JSON as compare-I.json in `keep`, when given. */
function keepRun(keep, i, text) {
  if (!keep) return;
  mkdirSync(keep, { recursive: true });
  writeFileSync(path.join(keep, `compare-${i}.json`), text);
}

/** Two runs, each kept as soon as it ends (a later failure loses nothing). */
async function runPair(keep) {
  const texts = [];
  for (const i of [1, 2]) {
    texts.push(await compareOnce(i));
    keepRun(keep, i, texts[i - 1]);
  }
  return texts.map((text) => JSON.parse(text));
}

const readPair = (dir) =>
  [1, 2].map((i) => recompute(JSON.parse(readFileSync(path.join(dir, `compare-${i}.json`), 'utf8'))));
const isPair = (dir) =>
  existsSync(path.join(dir, 'compare-1.json')) && existsSync(path.join(dir, 'compare-2.json'));

/** The pair folders given: each folder that holds a pair, or the pair-K folders of a --keep folder of --pairs. */
function pairFolders(dirs) {
  return dirs.flatMap((dir) => {
    if (isPair(dir)) return [dir];
    if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
    return readdirSync(dir)
      .filter((name) => /^pair-\d+$/.test(name))
      .sort((x, y) => Number(x.slice(5)) - Number(y.slice(5)))
      .map((name) => path.join(dir, name))
      .filter(isPair);
  });
}

const COUNTS = new Set([
  'requestsSent',
  'requestsAnswered',
  'errors5xx',
  'errors429',
  'errors4xx',
  'errorsConnection',
  'errorsTimeout',
  'errorShare',
  'recoveryFailed',
  'coldStarts',
  'environmentsPeak',
]);
/**
 * Rows shown without a ratio since 2026-12-07 (the slowest instance's cold start: its ratio moved 36% between
 * two runs whose rounds each put it within ±9%). Results from before, read without --recompute, still have
 * its ratio and are compared on it as they were.
 */
const FIGURE_ONLY = new Set(['coldStartMaxMs']);
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

/** Every figure of two runs side by side: how far apart, and whether a run marked it noisy. */
function agreement(a, b) {
  const rows = [];
  for (const r of a.runtimes) {
    if (r.runtime === 'process' || r.status !== 'ran') continue;
    for (const m of r.metrics) {
      // A figure-only row is left out when either run gives it no ratio (a pair of an older and a newer run).
      const noRatio = (result) => !metric(result, r.runtime, m.id)?.ratio;
      if (COUNTS.has(m.id) || (FIGURE_ONLY.has(m.id) && (noRatio(a) || noRatio(b)))) continue;
      const fa = figure(a, r.runtime, m.id);
      const fb = figure(b, r.runtime, m.id);
      if (!fa || !fb || fa.kind !== fb.kind) continue;
      const low = Math.min(fa.value, fb.value);
      const high = Math.max(fa.value, fb.value);
      const diff = high === low ? 0 : low > 0 ? high / low - 1 : Number.POSITIVE_INFINITY;
      // Did either run tell the user not to trust this figure (its 95% interval past the mark of its day: ±20% until 2026-12-07, then ±14.1%)?
      const flagged = [a, b].some((result) => flaggedIn(result, r.runtime, m.id));
      rows.push({ runtime: r.runtime, id: m.id, fa, fb, diff, flagged, within: diff <= BOUND });
    }
  }
  return rows;
}

const machine = (result) =>
  `${result.machine.cpus} cores, ${result.machine.cpuModel}, Node ${result.machine.node}, load ${result.machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}, rounds ${result.settings.rounds}, noisy: ${result.noisy}${result.background?.share != null ? ` (other work ${(result.background.share * 100).toFixed(1)}% of the CPU while idle, the most ${(result.background.max * 100).toFixed(1)}%)` : ''}${result.background?.load?.max != null ? `, in a warm load at most ${(result.background.load.max * 100).toFixed(1)}%` : ''}`;
const show = (f) => (f.kind === 'ratio' ? `${f.value.toFixed(3)}×` : f.value.toPrecision(4));
const percent = (x) => `${(x * 100).toFixed(1)}%`;

/** One pair in full; true when every figure that neither run marked noisy agrees. */
function printPair(a, b) {
  const rows = agreement(a, b);
  console.log(`run 1: ${a.startedAt}, ${machine(a)}`);
  console.log(`run 2: ${b.startedAt}, ${machine(b)}`);
  console.log(`on ${os.hostname()}; ratios to the process runtime (or the value where process has none)\n`);
  console.log(
    `${'runtime'.padEnd(9)} ${'row'.padEnd(18)} ${'kind'.padEnd(5)} ${'run 1'.padStart(10)} ${'run 2'.padStart(10)}  apart`,
  );
  for (const x of rows) {
    console.log(
      `${x.runtime.padEnd(9)} ${x.id.padEnd(18)} ${x.fa.kind.padEnd(5)} ${show(x.fa).padStart(10)} ${show(x.fb).padStart(10)}  ${percent(x.diff).padStart(6)}${x.flagged ? '  noisy' : ''}${x.within ? '' : '  apart'}`,
    );
  }
  const trusted = rows.filter((x) => !x.flagged);
  console.log(
    `\n${rows.filter((x) => x.within).length} of ${rows.length} figures agree within ±${BOUND * 100}% (the larger over the smaller, minus one)`,
  );
  console.log(
    `${trusted.filter((x) => x.within).length} of ${trusted.length} figures that neither run marked noisy agree within ±${BOUND * 100}%; ` +
      `${rows.length - trusted.length} were marked noisy by a run (their 95% interval from the rounds past ±14.1% with --recompute or since 2026-12-07, ±${BOUND * 100}% before; before 2026-12-04 night: their rounds more than ${BOUND * 100}% apart)`,
  );
  return trusted.every((x) => x.within);
}

/** Many pairs: each pair's count, how many agreed on every figure, and the rows nearest the bound. */
function printRate(pairs) {
  const worst = new Map();
  let all = 0;
  pairs.forEach(([a, b], k) => {
    const rows = agreement(a, b);
    const apart = rows.filter((x) => !x.within);
    if (apart.length === 0) all++;
    const closest = rows.reduce((c, x) => (c && c.diff >= x.diff ? c : x), null);
    const detail =
      apart.length > 0
        ? `; apart: ${apart.map((x) => `${x.runtime} ${x.id} ${percent(x.diff)}`).join(', ')}`
        : closest
          ? `; the closest: ${closest.runtime} ${closest.id} ${percent(closest.diff)}`
          : '';
    console.log(
      `pair ${k + 1} (${a.startedAt}, rounds ${a.settings.rounds} and ${b.settings.rounds}): ${rows.length - apart.length} of ${rows.length}${detail}`,
    );
    for (const x of rows) {
      const key = `${x.runtime} ${x.id}`;
      const seen = worst.get(key) ?? { max: 0, over: 0 };
      worst.set(key, { max: Math.max(seen.max, x.diff), over: seen.over + (x.within ? 0 : 1) });
    }
  });
  console.log(`\n${all} of ${pairs.length} pairs agree on every figure within ±${BOUND * 100}%`);
  const near = [...worst].filter(([, w]) => w.max > BOUND * 0.75).sort((x, y) => y[1].max - x[1].max);
  if (near.length > 0) {
    console.log('rows that came within a quarter of the bound, with their largest distance over the pairs:');
    for (const [key, w] of near) {
      console.log(
        `  ${key.padEnd(28)} ${percent(w.max).padStart(6)}${w.over > 0 ? `  apart in ${w.over}` : ''}`,
      );
    }
  }
  return all === pairs.length;
}

if ((values.recompute || first !== undefined) && !values.summary && positionals.length !== 2) {
  console.error(
    '--recompute and --first read runs kept before: give them with --summary DIR... or two files',
  );
  process.exit(2);
}
if (values.summary) {
  const dirs = pairFolders(positionals);
  if (dirs.length === 0) {
    console.error(
      `no pair found in ${positionals.join(' ') || '(no folder given)'}: a pair is a folder with compare-1.json and compare-2.json`,
    );
    process.exit(2);
  }
  process.exitCode = printRate(dirs.map(readPair)) ? 0 : 1;
} else if (values.pairs !== undefined) {
  const count = Number(values.pairs);
  if (!Number.isInteger(count) || count < 1) {
    console.error(`--pairs takes a whole number of pairs, 1 or more (got ${values.pairs})`);
    process.exit(2);
  }
  const pairs = [];
  for (let k = 1; k <= count; k++) {
    process.stderr.write(`pair ${k} of ${values.pairs}\n`);
    pairs.push(await runPair(values.keep && path.join(values.keep, `pair-${k}`)));
  }
  process.exitCode = printRate(pairs) ? 0 : 1;
} else {
  const [a, b] =
    positionals.length === 2
      ? positionals.map((file, i) => {
          const text = readFileSync(file, 'utf8');
          keepRun(values.keep, i + 1, text);
          return recompute(JSON.parse(text));
        })
      : await runPair(values.keep);
  process.exitCode = printPair(a, b) ? 0 : 1;
}
