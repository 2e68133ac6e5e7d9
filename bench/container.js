// `npm run bench:container`: the same service run as processes and as containers (podman), in one run:
// start → ready per instance, p50/p99 through msup's front at one connection, and memory per instance
// (for containers: the container's processes, plus conmon and an equal share of podman's API service,
// which msup starts once per run). Prints each container figure against the process figure. Not part of `npm test`.
// Options: --rounds N (5), --instances N (2), --duration S (5)
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { start } from '../dist/index.js';
import { loadAsync, which } from './tools.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    instances: { type: 'string', default: '2' },
    duration: { type: 'string', default: '5' },
  },
});
const ROUNDS = Number(opts.rounds);
const INSTANCES = Number(opts.instances);
const DURATION = Number(opts.duration);

if (!which('podman') || !which('wrk')) {
  console.log('podman and wrk are needed: apt-get install podman runc catatonit wrk');
  process.exit(0);
}
const app = mkdtempSync(path.join(os.tmpdir(), 'msup-bench-container-'));
copyFileSync(path.join(HERE, 'backend.js'), path.join(app, 'backend.js'));

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const rssOf = (pid) => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
};
const ppidOf = (pid) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
};
const config = (runtime) => ({
  services: {
    web: {
      command: ['node', 'backend.js'],
      instances: INSTANCES,
      port: 0,
      runtime,
      cwd: app,
      // Probed every 10 ms while starting, so start → ready is measured to 10 ms, not to the 100 ms default.
      health: { tcp: true, interval: '10ms' },
    },
  },
});

/** One start of the service on a runtime: per-instance start → ready, latency at -c1, memory per instance. */
async function measure(runtime) {
  // From the launch's own start time (before the engine is asked anything, as before a process's spawn) to
  // its ready line: the 'started' line comes only once the runtime's start() has returned, which for a
  // container through the API is after create and start.
  const readyAt = new Map();
  const sup = await start({ cwd: app, watch: false, control: false, wait: false, config: config(runtime) });
  sup.on('log', (r) => {
    if (r.msg === 'ready' && r.id) readyAt.set(r.id, Date.now());
  });
  // Launches began inside start(): measure the instances of a rolling restart, which all start from here.
  while (sup.instances('web').some((i) => !i.ready)) await new Promise((r) => setTimeout(r, 20));
  readyAt.clear();
  await sup.restart('web');
  const readyMs = sup
    .instances('web')
    .map((i) => readyAt.get(i.id) - i.startedAt)
    .filter((ms) => Number.isFinite(ms));
  const lat = await loadAsync(`${sup.url('web')}/`, 1, DURATION);
  const status = await sup.status();
  const inContainer = status.services[0].instances.map((i) => i.memoryBytes ?? 0);
  let beside = 0;
  let serviceMB = 0;
  if (runtime === 'container') {
    // conmon is the container's parent; podman's API service (msup's child) serves every container of
    // the run: its share per instance is counted.
    for (const i of status.services[0].instances) if (i.pid) beside += rssOf(ppidOf(i.pid));
    const children = (pattern) => {
      try {
        return execFileSync('pgrep', ['-f', '-P', String(process.pid), pattern], { encoding: 'utf8' })
          .split('\n')
          .filter(Boolean)
          .map(Number);
      } catch {
        return []; // pgrep exits 1 when nothing matches
      }
    };
    for (const pid of children('podman system service')) serviceMB += rssOf(pid) / 1e6;
    // Before msup used the API (to measure an older msup with this script): one client per container.
    for (const pid of children('podman run')) beside += rssOf(pid);
    beside += serviceMB * 1e6;
  }
  await sup.stop();
  const perInstance = (inContainer.reduce((a, b) => a + b, 0) + beside) / INSTANCES;
  return {
    startMs: median(readyMs),
    p50us: lat.p50us,
    p99us: lat.p99us,
    rssMB: perInstance / 1e6,
    serviceMB,
  };
}

const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
console.log(
  `machine: ${os.cpus().length} cores, ${cpu}, Node ${process.version}, ${execFileSync('podman', ['--version'], { encoding: 'utf8' }).trim()}`,
);
// The image is built (or found in the cache) before anything is timed.
await (await start({ cwd: app, watch: false, control: false, config: config('container') })).stop();

const rows = [];
for (let round = 1; round <= ROUNDS; round++) {
  const proc = await measure('process');
  const cont = await measure('container');
  rows.push({ proc, cont });
  console.log(
    `round ${round}: start→ready ${proc.startMs.toFixed(0)} vs ${cont.startMs.toFixed(0)} ms (${(cont.startMs / proc.startMs).toFixed(2)}×), ` +
      `p50 ${(proc.p50us / 1000).toFixed(3)} vs ${(cont.p50us / 1000).toFixed(3)} ms, RSS/instance ${proc.rssMB.toFixed(1)} vs ${cont.rssMB.toFixed(1)} MB (podman service ${cont.serviceMB.toFixed(1)} MB, shared)`,
  );
}
const m = (f) => median(rows.map(f));
console.log('\nmedian of rounds      process   container   container vs process');
console.log(
  `start → ready (ms)    ${m((r) => r.proc.startMs)
    .toFixed(0)
    .padStart(7)}   ${m((r) => r.cont.startMs)
    .toFixed(0)
    .padStart(9)}   ${m((r) => r.cont.startMs / r.proc.startMs).toFixed(2)}× (goal ≤ 1.15×)`,
);
console.log(
  `p50 at -c1 (ms)       ${(m((r) => r.proc.p50us) / 1000).toFixed(3).padStart(7)}   ${(m((r) => r.cont.p50us) / 1000).toFixed(3).padStart(9)}   ${(m((r) => r.cont.p50us - r.proc.p50us) / 1000).toFixed(3)} ms added (goal ≤ +0.05 ms)`,
);
console.log(
  `p99 at -c1 (ms)       ${(m((r) => r.proc.p99us) / 1000).toFixed(3).padStart(7)}   ${(m((r) => r.cont.p99us) / 1000).toFixed(3).padStart(9)}`,
);
console.log(
  `RSS per instance (MB) ${m((r) => r.proc.rssMB)
    .toFixed(1)
    .padStart(7)}   ${m((r) => r.cont.rssMB)
    .toFixed(1)
    .padStart(9)}   ${m((r) => r.cont.rssMB / r.proc.rssMB).toFixed(2)}×`,
);
rmSync(app, { recursive: true, force: true });
