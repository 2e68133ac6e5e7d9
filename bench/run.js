// `npm run bench`: the same two backends behind msup's proxy, nginx and HAProxy (when installed), and
// direct, loaded by wrk (or autocannon) in its own process. Prints req/s, p50/p99, proxy CPU µs per
// request, and ratios to nginx; the median of several rounds, because shared machines are noisy.
// Options: --rounds N (3), --duration S (5), --connections C (50), --only name,name
// (`http-proxy-3` is the foundation's forwarding, kept as a reference for the choice of undici.)
import { execFileSync, fork, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

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
const TICK_US = 1e6 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim() || 100);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'msup-bench-'));
const children = [];

function which(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

async function freePort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

async function waitForPort(port, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on ${port}`);
}

function track(child) {
  children.push(child);
  return child;
}

/** utime + stime of a process and of its children (nginx: the worker under the master), in µs. */
function cpuMicros(pid) {
  let ticks = 0;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  ticks += Number(fields[11]) + Number(fields[12]);
  let kids = '';
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  } catch {}
  let us = ticks * TICK_US;
  for (const kid of kids ? kids.split(' ') : []) us += cpuMicros(Number(kid));
  return us;
}

function parseDurationUs(text) {
  const m = /([\d.]+)(us|ms|s)/.exec(text);
  if (!m) return Number.NaN;
  return Number(m[1]) * (m[2] === 'us' ? 1 : m[2] === 'ms' ? 1000 : 1e6);
}

/** One load run; returns { rps, p50us, p99us, requests }. */
function load(port, connections, seconds) {
  if (which('wrk')) {
    const out = execFileSync(
      'wrk',
      ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`],
      { encoding: 'utf8' },
    );
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
    const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
    const p50us = parseDurationUs(/^\s*50%\s+(\S+)/m.exec(out)?.[1] ?? '');
    const p99us = parseDurationUs(/^\s*99%\s+(\S+)/m.exec(out)?.[1] ?? '');
    const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out)?.[0];
    return { rps, p50us, p99us, requests, errors };
  }
  const bin = path.join(HERE, '..', 'node_modules', '.bin', 'autocannon');
  const out = execFileSync(
    bin,
    ['-c', String(connections), '-d', String(seconds), '-j', `http://127.0.0.1:${port}/`],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  const r = JSON.parse(out);
  return {
    rps: r.requests.average,
    p50us: r.latency.p50 * 1000,
    p99us: r.latency.p99 * 1000,
    requests: r.requests.total,
    errors: r.errors || r.non2xx ? `${r.errors} errors, ${r.non2xx} non-2xx` : undefined,
  };
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

async function stop(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.stopping = true;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await gone;
  clearTimeout(timer);
}

const nginxConf = (port, backends, mode) => `
${mode === 'tcp' ? 'load_module /usr/lib/nginx/modules/ngx_stream_module.so;' : ''}
worker_processes 1;
daemon off;
master_process on;
pid ${tmp}/nginx-${port}.pid;
error_log ${tmp}/nginx-error.log;
events { worker_connections 4096; }
${
  mode === 'tcp'
    ? `stream {
  upstream b { ${backends.map((p) => `server 127.0.0.1:${p};`).join(' ')} }
  server { listen 127.0.0.1:${port}; proxy_pass b; }
}`
    : `http {
  access_log off;
  client_body_temp_path ${tmp}/body; proxy_temp_path ${tmp}/proxy; fastcgi_temp_path ${tmp}/fcgi;
  uwsgi_temp_path ${tmp}/uwsgi; scgi_temp_path ${tmp}/scgi;
  upstream b { ${backends.map((p) => `server 127.0.0.1:${p};`).join(' ')} keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}`
}`;

const haproxyConf = (port, backends, mode) => `
global
  nbthread 1
  maxconn 4096
defaults
  mode ${mode}
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  ${mode === 'http' ? 'option http-keep-alive\n  http-reuse always' : ''}
frontend f
  bind 127.0.0.1:${port}
  default_backend b
backend b
  balance roundrobin
${backends.map((p, i) => `  server s${i} 127.0.0.1:${p}`).join('\n')}
`;

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
      skip: which('nginx') ? undefined : 'nginx is not installed (apt-get install nginx-light)',
      start: async () => {
        const port = await freePort();
        const conf = path.join(tmp, `nginx-${mode}.conf`);
        writeFileSync(conf, nginxConf(port, backends, mode));
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
