// `npm run bench`: the same two backends behind msup's proxy, nginx and HAProxy (when installed), and
// direct, loaded by wrk (or autocannon) in its own process. Prints req/s, p50/p99, proxy CPU µs per
// request, and ratios to nginx; the median of several rounds, because shared machines are noisy.
// Options: --rounds N (3), --duration S (5), --connections C (50), --only name,name
// (`http-proxy-3` is the foundation's forwarding, kept as a reference for the choice of undici.)
import { fork, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { haproxyConf, NGINX_STREAM, nginxConf } from './references.js';
import { cpuMicros, freePort, load, stopChild, waitForPort, which } from './tools.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    only: { type: 'string' },
  },
});
const ROUNDS = Number(opts.rounds);
const DURATION = Number(opts.duration);
const CONNECTIONS = Number(opts.connections);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'msup-bench-'));
const children = [];
const stop = (child) => stopChild(child, 3000);

function track(child) {
  children.push(child);
  return child;
}

function startProcess(cmd, args, name) {
  const child = track(spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  child.once('exit', (code) => {
    if (code && code !== 0 && !child.stopping) console.error(`${name} exited with ${code}: ${err}`);
  });
  return child;
}

/** Each target: how to start it (returns the process whose CPU counts) or why it is skipped. */
function targets(backends) {
  const list = [];
  list.push({ name: 'direct', mode: 'http', start: async () => ({ port: backends[0], pid: null }) });
  for (const mode of ['http', 'tcp']) {
    list.push({
      name: `msup-${mode}`,
      mode,
      start: async () => {
        const port = await freePort();
        const child = track(fork(path.join(HERE, 'msup-proxy.js'), [mode, String(port), ...backends]));
        await new Promise((r) => child.once('message', r));
        return { port, pid: child.pid, child };
      },
    });
    if (mode === 'http') {
      list.push({
        name: 'http-proxy-3',
        mode,
        start: async () => {
          const port = await freePort();
          const child = track(fork(path.join(HERE, 'http-proxy-3-proxy.js'), [String(port), ...backends]));
          await new Promise((r) => child.once('message', r));
          return { port, pid: child.pid, child };
        },
      });
    }
    list.push({
      name: `nginx-${mode}`,
      mode,
      skip: !which('nginx')
        ? 'nginx is not installed (apt-get install nginx-light)'
        : mode === 'tcp' && !existsSync(NGINX_STREAM)
          ? `nginx has no stream module (apt-get install libnginx-mod-stream): ${NGINX_STREAM} is missing`
          : undefined,
      start: async () => {
        const port = await freePort();
        const conf = path.join(tmp, `nginx-${mode}.conf`);
        writeFileSync(conf, nginxConf(tmp, port, backends, mode));
        const child = startProcess('nginx', ['-c', conf, '-p', tmp, '-e', `${tmp}/nginx-error.log`], 'nginx');
        await waitForPort(port);
        return { port, pid: child.pid, child };
      },
    });
    list.push({
      name: `haproxy-${mode}`,
      mode,
      skip: which('haproxy') ? undefined : 'HAProxy is not installed (apt-get install haproxy)',
      start: async () => {
        const port = await freePort();
        const conf = path.join(tmp, `haproxy-${mode}.cfg`);
        writeFileSync(conf, haproxyConf(port, backends, mode));
        const child = startProcess('haproxy', ['-f', conf, '-db'], 'haproxy');
        await waitForPort(port);
        return { port, pid: child.pid, child };
      },
    });
  }
  const only = opts.only?.split(',');
  return only ? list.filter((t) => only.includes(t.name) || t.name === 'nginx-http') : list;
}

function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

async function measure(target) {
  const running = await target.start();
  try {
    load(running.port, CONNECTIONS, 1); // warm up (JIT, pools)
    const before = running.pid ? cpuMicros(running.pid) : 0;
    const r = load(running.port, CONNECTIONS, DURATION);
    const after = running.pid ? cpuMicros(running.pid) : 0;
    const one = target.mode === 'http' ? load(running.port, 1, Math.min(3, DURATION)) : undefined;
    return {
      rps: r.rps,
      p50us: r.p50us,
      p99us: r.p99us,
      cpuPerReq: running.pid ? (after - before) / r.requests : Number.NaN,
      p50one: one?.p50us ?? Number.NaN,
      errors: r.errors,
    };
  } finally {
    await stop(running.child);
  }
}

function fmt(n, digits = 0) {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

async function main() {
  console.log(
    `msup proxy benchmark: ${os.cpus().length} cores (${os.cpus()[0]?.model}), node ${process.version}, ` +
      `load ${which('wrk') ? 'wrk -t1' : 'autocannon'} -c${CONNECTIONS} for ${DURATION}s, median of ${ROUNDS} rounds`,
  );
  const backendPorts = [await freePort(), await freePort()];
  for (const port of backendPorts) {
    const child = track(
      fork(path.join(HERE, 'backend.js'), [], { env: { ...process.env, PORT: String(port) } }),
    );
    await new Promise((r) => child.once('message', r));
  }
  const list = targets(backendPorts.map(String));
  for (const t of list) if (t.skip) console.log(`skipping ${t.name}: ${t.skip}`);
  const runs = new Map();
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of list) {
      if (t.skip) continue;
      const r = await measure(t);
      if (r.errors) console.log(`  ${t.name} round ${round + 1}: ${r.errors}`);
      runs.set(t.name, [...(runs.get(t.name) ?? []), r]);
      console.log(
        `  round ${round + 1} ${t.name.padEnd(12)} ${fmt(r.rps)} req/s  p50 ${fmt(r.p50us)} µs  p99 ${fmt(r.p99us)} µs  ` +
          `cpu ${fmt(r.cpuPerReq, 1)} µs/req  p50@1 ${fmt(r.p50one)} µs`,
      );
    }
  }
  // Ratios are taken within each round (msup and nginx measured minutes apart at most), then the
  // median over rounds: steadier than a ratio of medians on a machine that others share.
  const refOf = (name) => (name.endsWith('tcp') ? 'nginx-tcp' : 'nginx-http');
  const ratio = (name, pick, round) => {
    const mine = runs.get(name)?.[round];
    const ref = runs.get(refOf(name))?.[round];
    if (!mine || !ref) return Number.NaN;
    const a = pick(mine);
    const b = pick(ref);
    return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : Number.NaN;
  };
  const perCore = (r) => (Number.isFinite(r.cpuPerReq) && r.cpuPerReq > 0 ? 1e6 / r.cpuPerReq : Number.NaN);
  const rounds = [...Array(ROUNDS).keys()];
  console.log('');
  console.log(
    '| target | req/s | p50 µs | p99 µs | proxy CPU µs/req | req/s per proxy core | p50 µs @1 conn | ' +
      'req/s vs nginx | per core vs nginx | CPU/req vs nginx | p99 vs nginx | p50 @1 − nginx |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [name, rs] of runs) {
    const m = (pick) => median(rs.map(pick));
    const x = (pick) => {
      const v = median(rounds.map((round) => ratio(name, pick, round)));
      return Number.isFinite(v) ? `${v.toFixed(2)}×` : '-';
    };
    const delta = median(
      rounds.map((round) => {
        const mine = runs.get(name)?.[round]?.p50one;
        const ref = runs.get(refOf(name))?.[round]?.p50one;
        return mine !== undefined && ref !== undefined ? mine - ref : Number.NaN;
      }),
    );
    console.log(
      `| ${name} | ${fmt(m((r) => r.rps))} | ${fmt(m((r) => r.p50us))} | ${fmt(m((r) => r.p99us))} | ` +
        `${fmt(
          m((r) => r.cpuPerReq),
          1,
        )} | ${fmt(m(perCore))} | ${fmt(m((r) => r.p50one))} | ` +
        `${x((r) => r.rps)} | ${x(perCore)} | ${x((r) => r.cpuPerReq)} | ${x((r) => r.p99us)} | ` +
        `${Number.isFinite(delta) ? `${delta >= 0 ? '+' : ''}${(delta / 1000).toFixed(3)} ms` : '-'} |`,
    );
  }
}

try {
  await main();
} finally {
  await Promise.all(children.map(stop));
  rmSync(tmp, { recursive: true, force: true });
}
