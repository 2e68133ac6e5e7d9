// Checks the Compose front's nginx config with the real nginx (`nginx -t`), as the front's container
// would load it: Compose's `$$` read back as `$`, and each upstream's service name (resolved by Docker's
// DNS in the container) replaced by 127.0.0.1, since nginx resolves it while loading.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** nginx's complaint about the conf.d/default.conf `content` (as written in the compose file), or '' when it loads. */
export function nginxProblems(nginxPath: string, content: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msup-nginx-'));
  try {
    const conf = content.replace(/\$\$/g, '$').replace(/^( {2}server )[^\s:]+:/gm, '$1127.0.0.1:');
    writeFileSync(path.join(dir, 'default.conf'), conf);
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
      .map((t) => `${t}_temp_path ${path.join(dir, t)};`)
      .join(' ');
    writeFileSync(
      path.join(dir, 'nginx.conf'),
      `pid ${path.join(dir, 'nginx.pid')};\nerror_log stderr;\nevents {}\nhttp { ${temp} include ${path.join(dir, 'default.conf')}; }\n`,
    );
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
