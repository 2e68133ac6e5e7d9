// `npm run bench:supervisor`: how much msup itself weighs, against its goals and a bare spawn, in one run.
// msup (`msup start`, the CLI a user runs) supervises 8 instances of bench/backend.js; measured: msup's
// RSS and its watchdog's, msup's CPU while idle (default probes), and start → every instance ready,
// against a bare spawn of the same 8 processes polled until each answers. Idle CPU is read over --idle
// seconds once msup has settled (--settle seconds after "all ready": V8's memory reducer runs one or two
// full collections about 8 s after start-up's allocations stop, start-up work, not idle work); the CPU of
// the settling window is printed too. Options: --rounds N (3), --instances N (8), --settle S (20),
// --idle S (30), --bin FILE (the msup command to measure; bin/msup.js)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BACKEND = path.join(HERE, 'backend.js');
const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    instances: { type: 'string', default: '8' },
    settle: { type: 'string', default: '20' },
    idle: { type: 'string', default: '30' },
    bin: { type: 'string', default: path.join(HERE, '..', 'bin', 'msup.js') },
  },
});
const BIN = path.resolve(opts.bin);
const ROUNDS = Number(opts.rounds);
const N = Number(opts.instances);
const SETTLE_S = Number(opts.settle);
const IDLE_S = Number(opts.idle);
const TICK_MS = 10;

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const rssMB = (pid) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const cpuMs = (pid) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
};
const answers = (port) =>
  new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
async function freePorts(count) {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise((r) => {
          const s = net.createServer().listen(0, '127.0.0.1', () => r(s));
        }),
    ),
  );
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** The reference: the same processes spawned bare, each polled every 10 ms until its port answers. */
async function bareSpawn() {
  const ports = await freePorts(N);
  const began = performance.now();
  const children = ports.map((port) =>
    spawn(process.execPath, [BACKEND], { env: { ...process.env, PORT: String(port) }, stdio: 'ignore' }),
  );
  await Promise.all(
    ports.map(async (port) => {
      while (!(await answers(port))) await sleep(10);
    }),
  );
  const ms = performance.now() - began;
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r() : c.once('exit', r)))));
  return ms;
}

/** msup as a user runs it: start → "all services ready", then its weight while idle. */
async function msup(dir) {
  const began = performance.now();
  const child = spawn(process.execPath, [BIN, 'start', '--json', '--no-watch'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  while (!out.includes('"msg":"all ready"')) {
    if (child.exitCode !== null) throw new Error(`msup exited: ${out}`);
    await sleep(5);
  }
  const readyMs = performance.now() - began;
  const settle0 = cpuMs(child.pid);
  await sleep(SETTLE_S * 1000);
  const settlePercent = ((cpuMs(child.pid) - settle0) / (SETTLE_S * 1000)) * 100;
  const watchdog = [
    ...readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' '),
  ]
    .map(Number)
    .find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('/bin/sh'));
  const cpu0 = cpuMs(child.pid);
  await sleep(IDLE_S * 1000);
  const idlePercent = ((cpuMs(child.pid) - cpu0) / (IDLE_S * 1000)) * 100;
  const result = {
    readyMs,
    rss: rssMB(child.pid),
    watchdogRss: watchdog ? rssMB(watchdog) : Number.NaN,
    idlePercent,
    settlePercent,
  };
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return result;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'msup-bench-sup-'));
writeFileSync(
  path.join(dir, 'supervisor.config.json'),
  JSON.stringify({ services: { web: { command: [process.execPath, BACKEND], instances: N, port: 0 } } }),
);
const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
console.log(
  `machine: ${os.cpus().length} cores, ${cpu}, Node ${process.version}; ${N} instances, idle ${IDLE_S} s after ${SETTLE_S} s`,
);
const rows = [];
for (let round = 1; round <= ROUNDS; round++) {
  const bare = await bareSpawn();
  const m = await msup(dir);
  rows.push({ bare, ...m });
  console.log(
    `round ${round}: start → ready ${m.readyMs.toFixed(0)} ms vs bare spawn ${bare.toFixed(0)} ms (${(m.readyMs / bare).toFixed(2)}×), ` +
      `RSS ${m.rss.toFixed(1)} MB, watchdog ${m.watchdogRss.toFixed(1)} MB, idle CPU ${m.idlePercent.toFixed(2)}% (settling ${m.settlePercent.toFixed(2)}%)`,
  );
}
const med = (f) => median(rows.map(f));
console.log('\nmedian of rounds            measured     goal');
console.log(
  `msup RSS, ${N} instances      ${med((r) => r.rss)
    .toFixed(1)
    .padStart(6)} MB   ≤ 60 MB`,
);
console.log(
  `watchdog RSS                ${med((r) => r.watchdogRss)
    .toFixed(1)
    .padStart(6)} MB   ≤ 5 MB`,
);
console.log(
  `idle CPU (default probes)   ${med((r) => r.idlePercent)
    .toFixed(2)
    .padStart(6)} %    < 0.5 % of a core`,
);
console.log(
  `  first ${SETTLE_S} s after ready   ${med((r) => r.settlePercent)
    .toFixed(2)
    .padStart(6)} %    (start-up's last work: V8's post-start collections)`,
);
console.log(
  `start → all ready           ${med((r) => r.readyMs)
    .toFixed(0)
    .padStart(6)} ms   (bare spawn ${med((r) => r.bare).toFixed(0)} ms)`,
);
console.log(
  `  vs a bare spawn           ${med((r) => r.readyMs / r.bare)
    .toFixed(2)
    .padStart(6)}×     ≤ 1.2×`,
);
rmSync(dir, { recursive: true, force: true });
