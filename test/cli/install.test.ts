// msup added to someone else's project as the README says: the packed package, installed under its own
// name, gives `npx msup` and `import ... from '<name>'`. (`msup` on the registry is another package.)
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/processes.js';
import { fixture, type Project, REPO, useProject } from '../helpers/project.js';

const project = useProject();

const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
  name: string;
  bin: Record<string, string>;
};

/** What `npm install --save-dev <tarball>` leaves in node_modules, without the network: the packed files
 * under the package's name, its bins linked in .bin, and its dependencies (taken from this repo). */
function install(p: Project): string {
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', p.root], {
      cwd: REPO,
      encoding: 'utf8',
      env: { ...process.env, npm_config_update_notifier: 'false' },
    }),
  ) as { filename: string; name: string }[];
  const { filename, name } = packed[0]!;
  const dir = path.join(p.root, 'app', 'node_modules', ...name.split('/'));
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-xzf', path.join(p.root, filename), '-C', dir, '--strip-components=1']);
  symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
  const bins = path.join(p.root, 'app', 'node_modules', '.bin');
  mkdirSync(bins, { recursive: true });
  for (const [bin, file] of Object.entries(pkg.bin)) {
    chmodSync(path.join(dir, file), 0o755);
    symlinkSync(path.join(dir, file), path.join(bins, bin));
  }
  return name;
}

function run(p: Project, command: string, args: string[]) {
  const child = spawn(command, args, {
    cwd: path.join(p.root, 'app'),
    env: p.env({ npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return code.then((c) => ({ code: c, out }));
}

describe('msup in your own project', () => {
  it('the README installs a package name that is not the registry’s unrelated "msup"', () => {
    const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
    const installs = [...readme.matchAll(/npm install --save-dev (\S+)/g)].map((m) => m[1]);
    expect(installs.length).toBeGreaterThan(0);
    for (const name of installs) expect(name).toBe(pkg.name);
    expect(pkg.name).not.toBe('msup');
    expect(Object.keys(pkg.bin)).toEqual(['msup']);
  });

  it('installed under its name: npx msup starts the app, and the API imports by that name', async () => {
    const p = project();
    const name = install(p);
    p.write(
      'app/package.json',
      JSON.stringify({ name: 'app', private: true, scripts: { dev: 'msup start' } }),
    );
    p.write(
      'app/supervisor.config.ts',
      `import { defineConfig } from '${name}';
export default defineConfig({
  services: { web: { command: ['node', ${JSON.stringify(fixture('echo-server.js'))}], port: 0, env: { MSUP_TEST_TAG: '${p.tag}' } } },
});
`,
    );
    p.write(
      'app/api.mjs',
      `import { defineConfig, start } from '${name}';\nconsole.log(typeof defineConfig, typeof start);\n`,
    );
    expect(await run(p, process.execPath, ['api.mjs'])).toEqual({ code: 0, out: 'function function\n' });

    const started = await run(p, 'npx', ['msup', 'start', '--detach']);
    expect(started.out).toMatch(/msup is running in the background/);
    expect(started.code).toBe(0);
    const stopped = await run(p, 'npx', ['msup', 'stop']);
    expect(stopped.code).toBe(0);
    expect(await waitFor(() => stopped.out.includes('stopped msup'), 1000)).toBe(true);
  }, 60_000);
});
