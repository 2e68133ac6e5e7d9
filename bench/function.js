// The function runtime's benchmark (`npm run bench:function`; not part of `npm test`), one run, same
// machine, same handler (fixtures/fns/hello.js):
//   warm   p50 at one connection through msup's front: the handler as a function (a warm environment,
//          over the Lambda Runtime API) against the same handler under the process runtime (msup's
//          handler server); wrk -t1 -c1, median of rounds
//   cold   a request that finds no environment (spawn, bootstrap, handler import, invoke) against a bare
//          `node` spawn that imports the same handler, calls it once and prints the answer
//   tput   a concurrency-1 function held at 4 environments under wrk -c4, beside 4 process instances
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { start } from '../dist/index.js';
import { heapFlags } from '../dist/runtime/function/environment.js';
import { loadAsync, which } from './tools.js';

const load = (port, connections, seconds) => loadAsync(`http://127.0.0.1:${port}/`, connections, seconds);

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FIXTURES = path.join(HERE, '..', 'fixtures');
const HANDLER = 'fns/hello.handler';
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '5' },
    colds: { type: 'string', default: '15' },
    only: { type: 'string', default: 'warm,cold,throughput' },
  },
});
const ROUNDS = Number(values.rounds);
const DURATION = Number(values.duration);
const COLDS = Number(values.colds);
const ONLY = new Set(values.only.split(','));
const PARTS = ['warm', 'cold', 'throughput'];
const unknown = [...ONLY].filter((part) => !PARTS.includes(part));
if (unknown.length > 0) {
  console.error(`--only takes ${PARTS.join(', ')}, not ${unknown.join(', ')}`);
  process.exit(2);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const port = (sup, name) => Number(new URL(sup.url(name)).port);

function get(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
  });
}

async function supervise(services) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'msup-bench-fn-'));
  const sup = await start({ cwd: root, control: false, watch: false, config: { services } });
  return {
    sup,
    async stop() {
      await sup.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

async function warm() {
  const { sup, stop } = await supervise({
    fn: {
      handler: HANDLER,
      cwd: FIXTURES,
      port: 0,
      runtime: { function: { minInstances: 1, idleTimeout: '1h' } },
    },
    proc: { handler: HANDLER, cwd: FIXTURES, port: 0 },
  });
  try {
    await load(port(sup, 'fn'), 1, 1);
    await load(port(sup, 'proc'), 1, 1);
    const rounds = [];
    // msup runs in this process: its CPU per request is this process's CPU over the run.
    const measured = async (name) => {
      const before = process.cpuUsage();
      const r = await load(port(sup, name), 1, DURATION);
      const used = process.cpuUsage(before);
      return { ...r, cpuUs: (used.user + used.system) / r.requests };
    };
    for (let i = 0; i < ROUNDS; i++) {
      const fn = await measured('fn');
      const proc = await measured('proc');
      rounds.push({
        fn: fn.p50us,
        proc: proc.p50us,
        diff: fn.p50us - proc.p50us,
        fnRps: fn.rps,
        procRps: proc.rps,
        fnCpu: fn.cpuUs,
        procCpu: proc.cpuUs,
      });
      if (fn.errors || proc.errors)
        console.log(`  round ${i + 1}: errors: ${fn.errors ?? ''} ${proc.errors ?? ''}`);
    }
    return {
      fn: median(rounds.map((r) => r.fn)),
      proc: median(rounds.map((r) => r.proc)),
      diff: median(rounds.map((r) => r.diff)),
      fnRps: median(rounds.map((r) => r.fnRps)),
      procRps: median(rounds.map((r) => r.procRps)),
      fnCpu: median(rounds.map((r) => r.fnCpu)),
      procCpu: median(rounds.map((r) => r.procCpu)),
    };
  } finally {
    await stop();
  }
}

/** The bare reference's last child, so the next measurement starts once it has exited. */
let lastBare = null;

/**
 * Spawn → the handler imported, called once, its answer printed: what a cold start does without msup.
 * `flags`: node's own flags (the environment's V8 heap flags, for the second reference). With `ready`,
 * spawn → the handler imported and a line printed, without calling it: the reference for msup's Init
 * Duration (spawn → the handler loaded and the environment's first poll at msup), "spawn → ready".
 */
function bare(flags = [], ready = false) {
  const handler = JSON.stringify(pathToFileURL(path.join(FIXTURES, 'fns/hello.js')).href);
  const script = ready
    ? `await import(${handler}); process.stdout.write('ready\\n');`
    : `
    const m = await import(${handler});
    const out = await m.handler({ rawPath: '/' }, { awsRequestId: 'x', getRemainingTimeInMillis: () => 3000 });
    process.stdout.write(String(out.statusCode) + '\\n');`;
  return new Promise((resolve, reject) => {
    const began = performance.now();
    const child = spawn(process.execPath, [...flags, '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((r) => child.once('exit', r));
    lastBare = exited;
    child.stdout.once('data', () => resolve(performance.now() - began));
    child.once('error', reject);
  });
}

/** The pids of this process's children (the supervisor's own: environments, its watchdog). */
const children = () =>
  readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean);

/**
 * Cold starts through msup and the bare references, each measured from the same quiet state (no
 * environment alive and its process gone, the last bare child gone, then 50 ms), in an order that rotates:
 * measured right after another, a spawn shares the machine with the previous process's exit, and the one
 * measured first would always be favoured. An environment is reaped 100 ms after its answer: soon enough
 * for the next cold start, late enough that its stop (a signal, the wait for its group, the state file)
 * is not work done while its answer reaches the client (with 1 ms it was, about 0.7 ms of it).
 */
async function cold() {
  const { sup, stop } = await supervise({
    fn: { handler: HANDLER, cwd: FIXTURES, port: 0, runtime: { function: { idleTimeout: 100 } } },
  });
  const baseline = children().length;
  const url = sup.url('fn');
  const details = () => sup.instances('fn')[0].details;
  const inits = [];
  sup.on('output', (line) => {
    const init = /Init Duration: ([\d.]+) ms/.exec(line.line);
    if (init) inits.push(Number(init[1]));
  });
  // The same bare spawn with the V8 heap flags an environment gets (Lambda's own runtime passes them too):
  // on Node 20 any heap flag makes a process start 20 to 25 ms slower, on Node 24 none does.
  const flags = heapFlags(128);
  const quiet = async () => {
    while (details().environments.warm + details().environments.starting > 0) await sleep(5);
    while (children().length > baseline) await sleep(5);
    await lastBare;
    await sleep(50);
  };
  const kinds = {
    msup: async () => {
      const began = performance.now();
      const status = await get(url);
      if (status !== 200) throw new Error(`cold request answered ${status}`);
      return performance.now() - began;
    },
    bare: () => bare(),
    flagged: () => bare(flags),
    ready: () => bare([], true),
    readyFlagged: () => bare(flags, true),
  };
  const times = { msup: [], bare: [], flagged: [], ready: [], readyFlagged: [] };
  const names = Object.keys(kinds);
  try {
    for (let i = 0; i < COLDS; i++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(i + k) % names.length];
        await quiet();
        times[name].push(await kinds[name]());
      }
    }
  } finally {
    await stop();
  }
  return {
    msup: median(times.msup),
    bare: median(times.bare),
    flagged: median(times.flagged),
    ready: median(times.ready),
    readyFlagged: median(times.readyFlagged),
    init: median(inits),
    colds: inits.length,
  };
}

async function throughput() {
  const { sup, stop } = await supervise({
    fn: {
      handler: HANDLER,
      cwd: FIXTURES,
      port: 0,
      runtime: { function: { concurrency: 1, minInstances: 4, maxInstances: 4, idleTimeout: '1h' } },
    },
    proc: { handler: HANDLER, cwd: FIXTURES, port: 0, instances: 4 },
  });
  try {
    while (sup.instances('fn')[0].details.environments.warm < 4) await sleep(20);
    await load(port(sup, 'fn'), 4, 1);
    await load(port(sup, 'proc'), 4, 1);
    const rounds = [];
    for (let i = 0; i < ROUNDS; i++) {
      const fn = await load(port(sup, 'fn'), 4, DURATION);
      const proc = await load(port(sup, 'proc'), 4, DURATION);
      rounds.push({ fn: fn.rps, proc: proc.rps, fnP50: fn.p50us, procP50: proc.p50us, errors: fn.errors });
    }
    const d = sup.instances('fn')[0].details;
    return {
      fn: median(rounds.map((r) => r.fn)),
      proc: median(rounds.map((r) => r.proc)),
      fnP50: median(rounds.map((r) => r.fnP50)),
      procP50: median(rounds.map((r) => r.procP50)),
      errors: rounds.map((r) => r.errors).filter(Boolean),
      throttles: d.throttles,
      environments: d.environments.warm,
    };
  } finally {
    await stop();
  }
}

if (!which('wrk')) {
  console.log('the function benchmark needs wrk (apt-get install wrk)');
  process.exit(1);
}
console.log(
  `msup function benchmark: ${os.cpus().length} cores (${os.cpus()[0]?.model}), node ${process.version}, ` +
    `load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}, ${ROUNDS} rounds of ${DURATION}s, ${COLDS} cold starts`,
);
if (ONLY.has('warm')) {
  const w = await warm();
  console.log(
    `warm p50 @1 conn: function ${(w.fn / 1000).toFixed(3)} ms, process ${(w.proc / 1000).toFixed(3)} ms, ` +
      `function − process ${(w.diff / 1000).toFixed(3)} ms (goal ≤ +0.300 ms); req/s ${w.fnRps.toFixed(0)} vs ${w.procRps.toFixed(0)}; ` +
      `msup CPU per request ${w.fnCpu.toFixed(0)} µs vs ${w.procCpu.toFixed(0)} µs`,
  );
}
if (ONLY.has('cold')) {
  const c = await cold();
  console.log(
    `cold start, spawn → ready: msup's Init Duration (spawn → the handler loaded, the first poll at msup) ` +
      `${c.init.toFixed(1)} ms (${c.colds} cold starts), bare spawn → the handler imported ${c.ready.toFixed(1)} ms, ` +
      `ratio ${(c.init / c.ready).toFixed(2)}× (goal ≤ 1.10×); with the environment's V8 heap flags ${c.readyFlagged.toFixed(1)} ms, ` +
      `ratio ${(c.init / c.readyFlagged).toFixed(2)}×`,
  );
  console.log(
    `cold request, through msup's front: ${c.msup.toFixed(1)} ms, bare spawn → the handler called and its answer printed ` +
      `${c.bare.toFixed(1)} ms, ratio ${(c.msup / c.bare).toFixed(2)}×; with the heap flags ${c.flagged.toFixed(1)} ms, ` +
      `ratio ${(c.msup / c.flagged).toFixed(2)}×`,
  );
}
if (ONLY.has('throughput')) {
  const t = await throughput();
  console.log(
    `throughput, concurrency 1 × 4 environments, wrk -c4: function ${t.fn.toFixed(0)} req/s (p50 ${(t.fnP50 / 1000).toFixed(3)} ms), ` +
      `4 process instances ${t.proc.toFixed(0)} req/s (p50 ${(t.procP50 / 1000).toFixed(3)} ms), ratio ${(t.fn / t.proc).toFixed(2)}×; ` +
      `${t.environments} environments, ${t.throttles} throttled${t.errors.length ? `, errors: ${t.errors.join('; ')}` : ''}`,
  );
}
