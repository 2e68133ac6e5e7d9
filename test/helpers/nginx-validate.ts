// Checks the Compose front's nginx config with the real nginx (`nginx -t`), as the front's container
// would load it: Compose's `$$` read back as `$`, and each upstream's service name (resolved by Docker's
// DNS in the container) replaced by 127.0.0.1, since nginx resolves it while loading. runNginx runs it.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './http.js';
import { waitFor } from './processes.js';

/**
 * Writes `dir`/default.conf (`conf`) and an nginx.conf that includes it, with its pid, temp folders and
 * error log inside `dir`; `extra` adds main-context and http-context directives.
 */
function writeConfig(dir: string, conf: string, extra: { main?: string; http?: string } = {}): void {
  writeFileSync(path.join(dir, 'default.conf'), conf);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `${t}_temp_path ${path.join(dir, t)};`)
    .join(' ');
  writeFileSync(
    path.join(dir, 'nginx.conf'),
    `pid ${path.join(dir, 'nginx.pid')};\nerror_log stderr;\n${extra.main ?? ''}events {}\n` +
      `http { ${temp} ${extra.http ?? ''}include ${path.join(dir, 'default.conf')}; }\n`,
  );
}

/** nginx's complaint about the conf.d/default.conf `content` (as written in the compose file), or '' when it loads. */
export function nginxProblems(nginxPath: string, content: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msup-nginx-'));
  try {
    const conf = content.replace(/\$\$/g, '$').replace(/^( {2}server )[^\s:]+:/gm, '$1127.0.0.1:');
    writeConfig(dir, conf);
    const run = spawnSync(
      nginxPath,
      ['-t', '-q', '-e', 'stderr', '-p', dir, '-c', path.join(dir, 'nginx.conf')],
      {
        encoding: 'utf8',
      },
    );
    return run.status === 0
      ? ''
      : `${run.stderr}${run.error ?? ''}`.trim() || `nginx -t exited ${run.status}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs the front's conf.d/default.conf `content` (as written in the compose file) in the real nginx, in the
 * foreground: each `listen` moved to a free port on 127.0.0.1 (in the order they come) and every upstream
 * `server` pointed at 127.0.0.1:`upstream`. `stop` ends it (and removes its folder).
 */
export async function runNginx(
  nginxPath: string,
  content: string,
  upstream: number,
): Promise<{ ports: number[]; stop(): Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msup-nginx-'));
  const ports: number[] = [];
  for (const _ of content.matchAll(/^ {2}listen \d+/gm)) ports.push(await freePort());
  let i = 0;
  const conf = content
    .replace(/\$\$/g, '$')
    .replace(/^( {2}server )[^\s:]+:\d+/gm, `$1127.0.0.1:${upstream}`)
    .replace(/^( {2}listen )\d+/gm, (_, listen: string) => `${listen}127.0.0.1:${ports[i++]}`);
  writeConfig(dir, conf, { main: 'daemon off;\nmaster_process off;\n', http: 'access_log off; ' });
  const child = spawn(nginxPath, ['-e', 'stderr', '-p', dir, '-c', path.join(dir, 'nginx.conf')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const listening = () =>
    new Promise<boolean>((resolve) => {
      const socket = net.connect(ports[0] as number, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  const up = await waitFor(async () => child.exitCode !== null || (await listening()));
  if (!up || child.exitCode !== null) {
    await stop();
    throw new Error(`nginx did not start listening: ${stderr}`);
  }
  return { ports, stop };
}
