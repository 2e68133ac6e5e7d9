// One probe attempt against one instance: http (GET, 2xx/3xx passes), tcp (connects) or exec (exit 0).
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import type { ResolvedProbe } from '../types.js';

export interface ProbeTarget {
  port: number;
  cwd: string;
  env: Readonly<Record<string, string>>;
  /**
   * Exec probes run in their own process group; `guard` hands that group to whoever ends the
   * groups if msup dies (the runtime's watchdog) and returns the function that takes it back.
   */
  guard?: (pgid: number) => () => void;
  /** Ends an exec probe under way (the monitor was stopped). */
  signal?: AbortSignal;
}

export interface ProbeResult {
  ok: boolean;
  detail: string;
}

function httpProbe(port: number, path: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = http.get(
      {
        host: '127.0.0.1',
        port,
        path,
        agent: false,
        timeout: timeoutMs,
        headers: { 'user-agent': 'msup-probe' },
      },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        resolve({ ok: status >= 200 && status < 400, detail: `GET ${path} answered ${status}` });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs}ms`)));
    req.on('error', (error) => resolve({ ok: false, detail: `GET ${path} failed: ${error.message}` }));
  });
}

function tcpProbe(port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    socket.on('data', () => {}); // a greeting (SSH, SMTP, databases) is read and dropped
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, detail: `tcp connect timed out after ${timeoutMs}ms` });
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      // A polite close (FIN, not RST), so a naive server never sees ECONNRESET from a probe.
      socket.end();
      setTimeout(() => socket.destroy(), timeoutMs).unref();
      resolve({ ok: true, detail: `tcp port ${port} accepts connections` });
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: false, detail: `tcp connect failed: ${error.message}` });
    });
  });
}

function execProbe(
  probe: Extract<ResolvedProbe, { kind: 'exec' }>,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const [file, ...args] = probe.command.argv as [string, ...string[]];
    const child = spawn(file, args, {
      cwd: target.cwd,
      env: { ...target.env },
      shell: probe.command.shell,
      stdio: 'ignore',
      detached: true,
    });
    const release = child.pid ? (target.guard?.(child.pid) ?? (() => {})) : () => {};
    const killGroup = () => {
      if (!child.pid) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    };
    const timer = setTimeout(killGroup, timeoutMs);
    target.signal?.addEventListener('abort', killGroup, { once: true });
    const done = () => {
      clearTimeout(timer);
      target.signal?.removeEventListener('abort', killGroup);
      release();
    };
    child.once('error', (error) => {
      done();
      resolve({ ok: false, detail: `exec failed: ${error.message}` });
    });
    child.once('exit', (code, signal) => {
      killGroup(); // anything the probe command left behind
      done();
      resolve({
        ok: code === 0,
        detail: signal ? `exec timed out after ${timeoutMs}ms` : `exec exited with code ${code}`,
      });
    });
  });
}

export function runProbe(probe: ResolvedProbe, target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  switch (probe.kind) {
    case 'http':
      return httpProbe(target.port, probe.path, timeoutMs);
    case 'tcp':
      return tcpProbe(target.port, timeoutMs);
    case 'exec':
      return execProbe(probe, target, timeoutMs);
  }
}
