// Start paths for one container, measured before msup started containers through the engine's REST API
// (issue 8): `podman run` (one attached client per container) against `podman system service`'s
// Docker-compatible and libpod APIs, and a process start of the same program. Each: from the call to
// a TCP connect on its PORT. Usage: node bench/container-start-paths.js IMAGE [ROUNDS]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROUNDS = Number(process.argv[3] ?? 10);
const IMAGE = process.argv[2];
if (!IMAGE) {
  console.log(
    'usage: node bench/container-start-paths.js IMAGE [ROUNDS] (an image with node, e.g. one msup built: podman images)',
  );
  process.exit(1);
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctapi-'));
const app = fs.mkdtempSync(path.join(os.tmpdir(), 'ctapi-app-'));
fs.copyFileSync(
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'backend.js'),
  path.join(app, 'backend.js'),
);
const sock = path.join(dir, 'podman.sock');

function api(method, p, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        socketPath: sock,
        method,
        path: p,
        headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {},
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}
const freePort = () =>
  new Promise((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => r(p));
    });
  });
const connects = (port) =>
  new Promise((r) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      r(true);
    });
    s.once('error', () => r(false));
  });
async function untilUp(port, t0) {
  while (!(await connects(port))) await new Promise((r) => setTimeout(r, 2));
  return performance.now() - t0;
}
const rm = (name) => execFileSync('podman', ['rm', '--force', '--time', '0', name], { stdio: 'ignore' });

async function viaRun(i) {
  const port = await freePort();
  const name = `ctapi-run-${i}`;
  const t0 = performance.now();
  const child = spawn(
    'podman',
    [
      'run',
      '--rm',
      '--name',
      name,
      '--init',
      '--network',
      'host',
      '--label',
      'ctapi=1',
      '--env',
      'PORT',
      '--volume',
      `${app}:${app}:ro`,
      '--workdir',
      app,
      IMAGE,
      'node',
      'backend.js',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PORT: String(port) } },
  );
  child.stdout.resume();
  child.stderr.resume();
  const ms = await untilUp(port, t0);
  rm(name);
  await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  return ms;
}
async function viaCompat(i) {
  const port = await freePort();
  const name = `ctapi-compat-${i}`;
  const t0 = performance.now();
  const c = await api('POST', `/v1.41/containers/create?name=${name}`, {
    Image: IMAGE,
    Cmd: ['node', 'backend.js'],
    Env: [`PORT=${port}`],
    WorkingDir: app,
    Labels: { ctapi: '1' },
    HostConfig: { NetworkMode: 'host', Init: true, Binds: [`${app}:${app}:ro`] },
  });
  if (c.status !== 201) throw new Error(c.body);
  const tc = performance.now() - t0;
  const s = await api('POST', `/v1.41/containers/${name}/start`);
  if (s.status !== 204) throw new Error(s.body);
  const ts = performance.now() - t0;
  const ms = await untilUp(port, t0);
  rm(name);
  return [ms, tc, ts];
}
async function viaLibpod(i) {
  const port = await freePort();
  const name = `ctapi-libpod-${i}`;
  const t0 = performance.now();
  const c = await api('POST', '/v4.3.1/libpod/containers/create', {
    name,
    image: IMAGE,
    command: ['node', 'backend.js'],
    env: { PORT: String(port) },
    work_dir: app,
    labels: { ctapi: '1' },
    netns: { nsmode: 'host' },
    init: true,
    mounts: [{ destination: app, source: app, type: 'bind', options: ['ro'] }],
  });
  if (c.status !== 201) throw new Error(c.body);
  const tc = performance.now() - t0;
  const s = await api('POST', `/v4.3.1/libpod/containers/${name}/start`);
  if (s.status !== 204) throw new Error(s.body);
  const ts = performance.now() - t0;
  const ms = await untilUp(port, t0);
  rm(name);
  return [ms, tc, ts];
}
async function viaProcess() {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn('node', ['backend.js'], {
    cwd: app,
    stdio: 'ignore',
    env: { ...process.env, PORT: String(port) },
  });
  const ms = await untilUp(port, t0);
  child.kill('SIGKILL');
  return ms;
}

const service = spawn('podman', ['system', 'service', '--time=0', `unix://${sock}`], { stdio: 'ignore' });
// The service (and what it started) goes whatever happens: a thrown round must not leave it running.
try {
  const tService = performance.now();
  for (let tries = 0; ; tries++) {
    if (tries > 1000) throw new Error('podman system service did not answer within 10 s');
    try {
      if ((await api('GET', '/_ping')).status === 200) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 10));
  }
  console.log(
    `service up in ${(performance.now() - tService).toFixed(0)} ms; RSS ${(Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${service.pid}/status`, 'utf8'))[1]) / 1024).toFixed(1)} MB`,
  );
  console.log('load', fs.readFileSync('/proc/loadavg', 'utf8').trim());
  const rows = { process: [], run: [], compat: [], libpod: [] };
  const parts = { compat: [], libpod: [] };
  await viaCompat('warm');
  await viaRun('warm');
  for (let i = 0; i < ROUNDS; i++) {
    rows.process.push(await viaProcess());
    rows.run.push(await viaRun(i));
    const [c, ...pc] = await viaCompat(i);
    rows.compat.push(c);
    parts.compat.push(pc);
    const [l, ...pl] = await viaLibpod(i);
    rows.libpod.push(l);
    parts.libpod.push(pl);
    console.log(
      i,
      Object.entries(rows)
        .map(([k, v]) => `${k} ${v.at(-1).toFixed(0)}`)
        .join('  '),
      ` compat create ${pc[0].toFixed(0)} start ${pc[1].toFixed(0)}; libpod create ${pl[0].toFixed(0)} start ${pl[1].toFixed(0)}`,
    );
  }
  const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  for (const [k, v] of Object.entries(rows))
    console.log(
      `${k.padEnd(8)} median ${med(v).toFixed(0)} ms  min ${Math.min(...v).toFixed(0)}  max ${Math.max(...v).toFixed(0)}  ratio to process ${(med(v) / med(rows.process)).toFixed(2)}`,
    );
  console.log('load', fs.readFileSync('/proc/loadavg', 'utf8').trim());
  console.log(
    `service RSS after ${(Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${service.pid}/status`, 'utf8'))[1]) / 1024).toFixed(1)} MB`,
  );
} finally {
  service.kill('SIGTERM');
  await new Promise((r) => (service.exitCode !== null ? r() : service.once('exit', r)));
  spawnSync('podman', ['rm', '--force', '--filter', 'label=ctapi=1'], { stdio: 'ignore' });
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(app, { recursive: true, force: true });
}
