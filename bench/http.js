// `npm run bench:http` (issue 14): msup's HTTP forwarding against nginx and a direct connection, in the
// same run. Per target: CPU per request (the proxy's utime+stime from /proc over a wrk run), req/s per
// proxy core, req/s and p99 at 50 connections, p50 at one connection, and the ratios to nginx; the
// median of the rounds, with targets interleaved within each round (this machine is shared).
// With --callgrind: user-space instructions per request (valgrind's count over a fixed number of
// requests after a warm-up), which does not depend on machine load; slow (minutes per target).
// Options: --rounds N (3), --duration S (5), --connections C (50), --baseline DIR (another checkout's
// built msup, measured beside this one as `msup-base`), --callgrind, --requests N (1000, callgrind),
// --floor (adds the byte-forwarding prototype bench/http-floor-proxy.js in its variants, and
// msup's TCP mode as the floor of forwarding without parsing; see bench/http-floor.js), --other-node
// PATH (with --floor: the prototype's variants also under that Node binary), --only a,b (these targets
// and nginx-http only), --keep-callgrind DIR (callgrind's dumps are copied there, as <target>.callgrind).
import { execFileSync, fork, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { nginxConf } from './references.js';
import { cpuSplit, freePort, load, stopChild, waitForPort, which } from './tools.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** bench/http-floor-proxy.js's variants: the first three as measured first, then the boundary cut. */
const FLOOR_VARIANTS = [
  'net',
  'uv',
  'uv-consume',
  'uv-rp',
  'uv-js',
  'uv-js-one',
  'uv-js-pass',
  'uv-js-pass-one',
];
const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    baseline: { type: 'string' },
    callgrind: { type: 'boolean', default: false },
    requests: { type: 'string', default: '1000' },
    floor: { type: 'boolean', default: false },
    'other-node': { type: 'string' },
    only: { type: 'string' },
    'keep-callgrind': { type: 'string' },
  },
});
const ROUNDS = Number(opts.rounds);
const DURATION = Number(opts.duration);
const CONNECTIONS = Number(opts.connections);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'msup-bench-http-'));
const children = [];
const stop = (child) => stopChild(child, 5000);

function started(child, name) {
  children.push(child);
  let err = '';
  child.stderr?.on('data', (d) => (err += d));
  child.once('exit', (code) => {
    if (code && !child.stopping) console.error(`${name} exited with ${code}: ${err}`);
  });
  return child;
}

/** How to run each target's proxy as a command (so it can also run under valgrind). */
function commands(backends) {
  const list = [{ name: 'direct', port: Number(backends[0]) }];
  const msup = (name, script) => ({
    name,
    argv: (port) => [process.execPath, script, 'http', port, ...backends],
  });
  list.push(msup('msup-http', path.join(HERE, 'msup-proxy.js')));
  if (opts.baseline)
    list.push(msup('msup-base', path.join(path.resolve(opts.baseline), 'bench', 'msup-proxy.js')));
  if (which('nginx')) {
    list.push({
      name: 'nginx-http',
      argv: (port) => {
        const conf = path.join(tmp, `nginx-${port}.conf`);
        writeFileSync(
          conf,
          nginxConf(tmp, port, backends, 'http').replace('master_process on', 'master_process off'),
        );
        return ['nginx', '-c', conf, '-p', tmp, '-e', `${tmp}/nginx-error.log`];
      },
    });
  } else console.log('skipping nginx-http: nginx is not installed (apt-get install nginx-light)');
  if (opts.floor) {
    list.push({
      name: 'msup-tcp',
      argv: (port) => [process.execPath, path.join(HERE, 'msup-proxy.js'), 'tcp', port, ...backends],
    });
    const nodes = [[process.execPath, '']];
    if (opts['other-node']) {
      const version = execFileSync(opts['other-node'], ['--version']).toString().trim();
      nodes.push([opts['other-node'], `@${version.split('.')[0]}`]);
    }
    for (const [node, suffix] of nodes) {
      for (const variant of FLOOR_VARIANTS) {
        list.push({
          name: `floor-${variant}${suffix}`,
          argv: (port) => [node, path.join(HERE, 'http-floor-proxy.js'), variant, port, ...backends],
        });
      }
    }
  }
  if (!opts.only) return list;
  const only = new Set(['nginx-http', ...opts.only.split(',')]);
  return list.filter((t) => only.has(t.name));
}

async function run(target, wrap = []) {
  if (!target.argv) return { port: target.port, child: undefined };
  const port = await freePort();
  const [cmd, ...args] = [...wrap, ...target.argv(String(port))];
  const child = started(spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] }), target.name);
  await waitForPort(port, 300_000);
  return { port, child };
}

async function measure(target) {
  const { port, child } = await run(target);
  try {
    load(port, CONNECTIONS, 1); // warm-up: JIT, pools
    const before = child ? cpuSplit(child.pid) : undefined;
    const r = load(port, CONNECTIONS, DURATION);
    const after = child ? cpuSplit(child.pid) : undefined;
    const one = load(port, 1, Math.min(3, DURATION));
    const sys = child ? (after.system - before.system) / r.requests : Number.NaN;
    const cpu = child ? (after.user - before.user) / r.requests + sys : Number.NaN;
    return { rps: r.rps, p99: r.p99us, cpu, sys, perCore: 1e6 / cpu, p50one: one.p50us, errors: r.errors };
  } finally {
    await stop(child);
  }
}

function fixedLoad(port, requests) {
  const out = execFileSync(process.execPath, [
    path.join(HERE, 'fixed-load.js'),
    String(port),
    String(requests),
    '8',
  ]);
  return JSON.parse(out.toString());
}

/** User-space instructions per request, counted by callgrind between a zero and a dump. */
async function instructions(target, requests) {
  const out = path.join(tmp, `callgrind.${target.name}`);
  const { port, child } = await run(target, ['valgrind', '--tool=callgrind', `--callgrind-out-file=${out}`]);
  try {
    fixedLoad(port, 3 * requests); // warm-up: JIT, pools
    execFileSync('callgrind_control', ['-z', String(child.pid)]);
    const r = fixedLoad(port, requests);
    execFileSync('callgrind_control', ['-d', String(child.pid)]);
    await sleep(500);
    const dump = readdirSync(tmp).find((f) => f.startsWith(`callgrind.${target.name}.`));
    const summary = /^summary:\s+(\d+)/m.exec(readFileSync(path.join(tmp, dump), 'utf8'));
    if (opts['keep-callgrind']) {
      copyFileSync(path.join(tmp, dump), path.join(opts['keep-callgrind'], `${target.name}.callgrind`));
      writeFileSync(path.join(opts['keep-callgrind'], `${target.name}.requests`), String(r.requests));
    }
    return Number(summary?.[1]) / r.requests;
  } finally {
    await stop(child);
  }
}

const median = (values) => {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
};
const fmt = (n, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

async function main() {
  console.log(
    `msup HTTP forwarding benchmark: ${os.cpus().length} cores (${os.cpus()[0]?.model}), node ${process.version}, ` +
      `wrk -t1 -c${CONNECTIONS} for ${DURATION}s, median of ${ROUNDS} rounds, load average ${os.loadavg()[0].toFixed(1)}`,
  );
  const backends = [String(await freePort()), String(await freePort())];
  for (const port of backends) {
    const child = started(
      fork(path.join(HERE, 'backend.js'), [], { env: { ...process.env, PORT: port } }),
      'backend',
    );
    await new Promise((r) => child.once('message', r));
  }
  const list = commands(backends);
  const runs = new Map(list.map((t) => [t.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of list) {
      const r = await measure(t);
      runs.get(t.name).push(r);
      console.log(
        `  round ${round + 1} ${t.name.padEnd(16)} ${fmt(r.rps)} req/s  p99 ${fmt(r.p99)} µs  ` +
          `cpu ${fmt(r.cpu, 1)} µs/req (kernel ${fmt(r.sys, 1)})  p50@1 ${fmt(r.p50one)} µs${r.errors ? `  ${r.errors}` : ''}`,
      );
    }
  }
  // Ratios within each round (targets minutes apart at most), then the median over rounds.
  const vs = (name, pick) =>
    median(runs.get(name).map((r, i) => pick(r) / pick(runs.get('nginx-http')?.[i] ?? {})));
  const delta = (name) =>
    median(runs.get(name).map((r, i) => r.p50one - (runs.get('nginx-http')?.[i]?.p50one ?? Number.NaN)));
  console.log('');
  console.log(
    '| target | req/s | p99 µs | CPU µs/req | of it kernel | req/s per core | p50 µs @1 | CPU/req vs nginx | per core vs nginx | req/s vs nginx | p99 vs nginx | p50 @1 − nginx |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [name, rs] of runs) {
    const m = (pick) => median(rs.map(pick));
    const x = (pick) => `${fmt(vs(name, pick), 2)}×`;
    const d = delta(name);
    console.log(
      `| ${name} | ${fmt(m((r) => r.rps))} | ${fmt(m((r) => r.p99))} | ${fmt(
        m((r) => r.cpu),
        1,
      )} | ${fmt(
        m((r) => r.sys),
        1,
      )} | ` +
        `${fmt(m((r) => r.perCore))} | ${fmt(m((r) => r.p50one))} | ${x((r) => r.cpu)} | ${x((r) => r.perCore)} | ` +
        `${x((r) => r.rps)} | ${x((r) => r.p99)} | ${Number.isFinite(d) ? `${d >= 0 ? '+' : ''}${(d / 1000).toFixed(3)} ms` : '-'} |`,
    );
  }
  if (opts.callgrind) {
    if (!which('valgrind')) {
      console.log('\nskipping --callgrind: valgrind is not installed');
      return;
    }
    const requests = Number(opts.requests);
    console.log(
      `\nUser-space instructions per request (callgrind, ${requests} requests after ${3 * requests}):`,
    );
    const counts = new Map();
    const proxies = list
      .filter((t) => t.argv)
      .sort((a, b) => (b.name === 'nginx-http') - (a.name === 'nginx-http'));
    for (const t of proxies) {
      counts.set(t.name, await instructions(t, requests));
      const ref = counts.get('nginx-http');
      console.log(`  ${t.name.padEnd(16)} ${fmt(counts.get(t.name))} instructions/req`);
      if (ref && t.name !== 'nginx-http')
        console.log(`  ${''.padEnd(16)} ${fmt(counts.get(t.name) / ref, 1)}× nginx`);
    }
  }
}

try {
  await main();
} finally {
  await Promise.all(children.map(stop));
  rmSync(tmp, { recursive: true, force: true });
}
