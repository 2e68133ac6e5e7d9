// `node bench/sidecar.js` (after `npm run build`): what a sidecar costs, in one run. Two msup projects
// run the same two services (web, api: the benchmark backend) side by side, one in process mode and one
// in sidecar mode. A call from web to api is one hop: in process mode through api's front (msup's proxy),
// in sidecar mode through web's sidecar and api's sidecar over mTLS. wrk stands in for web's app and sends
// to where MSUP_API_URL points. Prints latency per hop (p50/p99 at 1 connection, and at a fixed
// RPS), CPU per request and RSS per sidecar against process mode, and the ratios; medians of rounds.
// Options: --rounds N (3), --duration S (5), --connections C (10), --rate R (200; the published figures are at 2000, more than the sidecar path sustains on the 2-core test machine)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { load } from './tools.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(HERE, '..', 'bin', 'msup.js');
const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '10' },
    rate: { type: 'string', default: '200' },
  },
});
const ROUNDS = Number(opts.rounds);
const DURATION = Number(opts.duration);
const CONNECTIONS = Number(opts.connections);
const RATE = Number(opts.rate);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'msup-bench-sidecar-'));
const runs = [];

const TICK_US = 1e6 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim() || 100);

/** utime + stime of one process, without its children (msup's children are the instances), in µs. */
function ownCpuMicros(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_US;
}

function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

/** Starts msup on the two services in `runtime` mode; resolves with the pids and ports the bench needs. */
async function startMsup(runtime) {
  const dir = path.join(tmp, runtime);
  const backend = { command: [process.execPath, path.join(HERE, 'backend.js')], port: 0 };
  execFileSync('mkdir', ['-p', dir]);
  const file = path.join(dir, 'supervisor.config.json');
  writeFileSync(file, JSON.stringify({ runtime, services: { web: backend, api: backend } }));
  const child = spawn(process.execPath, [BIN, 'start', '--config', file, '--json', '--no-watch'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  runs.push(child);
  for (let i = 0; i < 300; i++) {
    const status = spawnSync(process.execPath, [BIN, 'status', '--config', file, '--json'], {
      encoding: 'utf8',
    });
    if (status.status === 0) {
      const s = JSON.parse(status.stdout);
      const service = (name) => s.services.find((x) => x.name === name);
      const api = service('api').instances[0];
      const web = service('web').instances[0];
      return {
        runtime,
        msup: child.pid,
        apiFront: Number(new URL(service('api').url).port),
        apiApp: runtime === 'sidecar' ? api.details.sidecar.ports.app : api.port,
        appPid: api.pid,
        // Where web's MSUP_API_URL points: api's front, or web's own sidecar.
        hop:
          runtime === 'sidecar'
            ? web.details.sidecar.ports.outbound.api
            : Number(new URL(service('api').url).port),
        sidecars:
          runtime === 'sidecar' ? { web: web.details.sidecar.pid, api: api.details.sidecar.pid } : null,
      };
    }
    await sleep(100);
  }
  throw new Error(`msup (${runtime}) did not get ready`);
}

const median = (values) => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : Number.NaN;
};

function atRate(port) {
  const out = execFileSync(
    process.execPath,
    [path.join(HERE, 'rate.js'), `http://127.0.0.1:${port}/`, String(RATE), String(DURATION)],
    {
      encoding: 'utf8',
    },
  );
  return JSON.parse(out);
}

/** One target: latency at 1 connection, throughput and CPU per request at C connections, latency at RATE. */
function measure(port, pids) {
  const serial = load(port, 1, DURATION);
  const before = pids.map((p) => ownCpuMicros(p));
  const busy = load(port, CONNECTIONS, DURATION);
  const cpu = pids.map((p, i) => (ownCpuMicros(p) - before[i]) / busy.requests);
  const rated = atRate(port);
  return {
    p50: serial.p50us,
    p99: serial.p99us,
    rps: busy.rps,
    cpu,
    rateP50: rated.p50us,
    rateP99: rated.p99us,
    rateFailed: rated.failed,
  };
}

async function main() {
  const cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  console.log(
    `CPU: ${cpuModel}, ${os.cpus().length} cores; Node ${process.version}; ${ROUNDS} rounds of ${DURATION}s`,
  );
  const plain = await startMsup('process');
  const mesh = await startMsup('sidecar');
  const idleRss = {
    web: rssBytes(mesh.sidecars.web),
    api: rssBytes(mesh.sidecars.api),
    app: rssBytes(mesh.appPid),
  };
  const rows = { direct: [], process: [], sidecar: [], frontProcess: [], frontSidecar: [] };
  for (let round = 0; round < ROUNDS; round++) {
    rows.direct.push(measure(plain.apiApp, []));
    rows.process.push(measure(plain.hop, [plain.msup]));
    rows.sidecar.push(measure(mesh.hop, [mesh.sidecars.web, mesh.sidecars.api]));
    rows.frontProcess.push(measure(plain.apiFront, [plain.msup]));
    rows.frontSidecar.push(measure(mesh.apiFront, [mesh.msup, mesh.sidecars.api]));
    console.log(`round ${round + 1} done`);
  }
  const loadedRss = { web: rssBytes(mesh.sidecars.web), api: rssBytes(mesh.sidecars.api) };
  const m = (name, key, i) => median(rows[name].map((r) => (i === undefined ? r[key] : r[key][i])));
  const table = [
    [
      'path',
      'p50 µs @1',
      'p99 µs @1',
      `p50 µs @${RATE}/s`,
      `p99 µs @${RATE}/s`,
      `req/s @${CONNECTIONS}`,
      'proxy CPU µs/req',
    ],
  ];
  const line = (label, name, cpu) =>
    table.push([
      label,
      m(name, 'p50'),
      m(name, 'p99'),
      m(name, 'rateP50'),
      m(name, 'rateP99'),
      Math.round(m(name, 'rps')),
      cpu,
    ]);
  line('api directly (no proxy)', 'direct', '-');
  line('hop, process mode: web → api front → api', 'process', m('process', 'cpu', 0).toFixed(1));
  line(
    'hop, sidecar mode: web → web sidecar → mTLS → api sidecar → api',
    'sidecar',
    `${m('sidecar', 'cpu', 0).toFixed(1)} + ${m('sidecar', 'cpu', 1).toFixed(1)}`,
  );
  line('front, process mode: front → api', 'frontProcess', m('frontProcess', 'cpu', 0).toFixed(1));
  line(
    'front, sidecar mode: front → api sidecar → api',
    'frontSidecar',
    `${m('frontSidecar', 'cpu', 0).toFixed(1)} + ${m('frontSidecar', 'cpu', 1).toFixed(1)}`,
  );
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => String(r[c]).length)));
  for (const r of table) console.log(`| ${r.map((v, c) => String(v).padEnd(widths[c])).join(' | ')} |`);
  const hopP50 = m('sidecar', 'p50') - m('process', 'p50');
  const hopP99 = m('sidecar', 'p99') - m('process', 'p99');
  const sidecarCpu = m('sidecar', 'cpu', 0) + m('sidecar', 'cpu', 1);
  console.log('');
  console.log(
    `added per hop against process mode, @1 connection: p50 ${(hopP50 / 1000).toFixed(3)} ms, p99 ${(hopP99 / 1000).toFixed(3)} ms`,
  );
  console.log(
    `added per hop against process mode, @${RATE}/s: p50 ${((m('sidecar', 'rateP50') - m('process', 'rateP50')) / 1000).toFixed(3)} ms, p99 ${((m('sidecar', 'rateP99') - m('process', 'rateP99')) / 1000).toFixed(3)} ms`,
  );
  console.log(
    `added by the ingress sidecar on the front path, @1 connection: p50 ${((m('frontSidecar', 'p50') - m('frontProcess', 'p50')) / 1000).toFixed(3)} ms`,
  );
  console.log(
    `hop latency ratio sidecar/process: p50 ${(m('sidecar', 'p50') / m('process', 'p50')).toFixed(2)}×, p99 ${(m('sidecar', 'p99') / m('process', 'p99')).toFixed(2)}×`,
  );
  console.log(
    `hop CPU per request: two sidecars ${sidecarCpu.toFixed(1)} µs against msup's proxy ${m('process', 'cpu', 0).toFixed(1)} µs (${(sidecarCpu / m('process', 'cpu', 0)).toFixed(2)}×)`,
  );
  console.log(
    `vCPU per 1,000 RPS per sidecar: outbound ${(m('sidecar', 'cpu', 0) / 1000).toFixed(3)}, inbound ${(m('sidecar', 'cpu', 1) / 1000).toFixed(3)}`,
  );
  const mb = (b) => (b / 1048576).toFixed(1);
  console.log(
    `RSS per sidecar: idle ${mb(idleRss.web)} / ${mb(idleRss.api)} MB, after load ${mb(loadedRss.web)} / ${mb(loadedRss.api)} MB (the app beside it: ${mb(idleRss.app)} MB)`,
  );
  const failed = Object.values(rows)
    .flat()
    .reduce((n, r) => n + (r.rateFailed ?? 0), 0);
  if (failed) console.log(`WARNING: ${failed} requests failed in the fixed-rate runs`);
}

try {
  await main();
} finally {
  for (const child of runs) child.kill('SIGTERM');
  await Promise.all(runs.map((c) => new Promise((r) => (c.exitCode !== null ? r() : c.once('exit', r)))));
  rmSync(tmp, { recursive: true, force: true });
}
