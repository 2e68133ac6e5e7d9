// The benchmark's measuring tools: free ports, waiting for a listener, a process's CPU time from /proc,
// and one load run with wrk (or autocannon when wrk is missing), parsed.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TICK_US = 1e6 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim() || 100);

export function which(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

export async function freePort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

export async function waitForPort(port, timeoutMs = 10_000) {
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

/** utime + stime of a process and of its children (nginx: the worker under the master), in µs. */
export function cpuMicros(pid) {
  const { user, system } = cpuSplit(pid);
  return user + system;
}

/** utime and stime apart (user space, kernel), as cpuMicros, in µs. */
export function cpuSplit(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  let user = Number(fields[11]) * TICK_US;
  let system = Number(fields[12]) * TICK_US;
  let kids = '';
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  } catch {}
  for (const kid of kids ? kids.split(' ') : []) {
    const k = cpuSplit(Number(kid));
    user += k.user;
    system += k.system;
  }
  return { user, system };
}

function parseDurationUs(text) {
  const m = /([\d.]+)(us|ms|s)/.exec(text);
  if (!m) return Number.NaN;
  return Number(m[1]) * (m[2] === 'us' ? 1 : m[2] === 'ms' ? 1000 : 1e6);
}

/** One load run; returns { rps, p50us, p99us, requests }. */
export function load(port, connections, seconds) {
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

/**
 * One wrk run without blocking this process (for a msup running in this same process); returns
 * { rps, p50us, p99us, requests, errors }.
 */
export function loadAsync(url, connections, seconds) {
  return new Promise((resolve, reject) => {
    execFile(
      'wrk',
      ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', url],
      { encoding: 'utf8' },
      (error, out) => {
        if (error) {
          reject(error);
          return;
        }
        resolve({
          rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
          requests: Number(/(\d+) requests in/.exec(out)?.[1]),
          p50us: parseDurationUs(/^\s*50%\s+(\S+)/m.exec(out)?.[1] ?? ''),
          p99us: parseDurationUs(/^\s*99%\s+(\S+)/m.exec(out)?.[1] ?? ''),
          errors: /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out)?.[0],
        });
      },
    );
  });
}

/** Ends a started process: SIGTERM, then SIGKILL after `graceMs`; marks it `stopping` (an expected exit). */
export async function stopChild(child, graceMs) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.stopping = true;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}
