// A TypeScript config as `msup` loads it from the build: in the bundled worker, importing msup's
// config values from 'msupervisor', compiled once into the user's private cache ($XDG_CACHE_HOME/msup/jiti),
// compiled again when it changes, loaded without a cache where msup cannot keep one, and never from a
// compiled copy inside the project. An MsupError that the config throws keeps its code and issues. The
// worker's own code is compiled with V8's code cache ($XDG_CACHE_HOME/msup/v8).
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/processes.js';
import { useProject } from '../helpers/project.js';

const newProject = useProject();

/** A config that is invalid by a number computed with msup's own parseDuration: its error proves it ran. */
const config = (duration: string) => `import { defineConfig, ERROR_CODES, parseDuration } from 'msupervisor';
if (!('MSUP_CONFIG_INVALID' in ERROR_CODES)) throw new Error('ERROR_CODES is missing');
export default defineConfig({ services: { web: { command: 'node x.js', instances: parseDuration('${duration}') } } });
`;

type Project = ReturnType<typeof newProject>;

async function problem(project: Project, cacheHome: string): Promise<string> {
  const cli = runCli(project, ['start', '--no-color'], { env: { XDG_CACHE_HOME: cacheHome } });
  expect((await cli.exited).code).toBe(2);
  return cli.stderr();
}

/** A project whose config the CLI loaded once: the worker's code cache is written, its folder and file. */
async function withCodeCache(): Promise<{ project: Project; cacheHome: string; dir: string; file: string }> {
  const project = newProject();
  const cacheHome = path.join(project.root, 'cache-home');
  project.write('supervisor.config.ts', config('2s'));
  await problem(project, cacheHome);
  const dir = path.join(cacheHome, 'msup', 'v8');
  return { project, cacheHome, dir, file: path.join(dir, readdirSync(dir)[0] as string) };
}

describe('a TypeScript config, loaded by msup', () => {
  it('gets defineConfig, parseDuration and ERROR_CODES from msupervisor, compiled into a private cache', async () => {
    const project = newProject();
    const cacheHome = path.join(project.root, 'cache-home');
    project.write('supervisor.config.ts', config('2s'));
    expect(await problem(project, cacheHome)).toMatch(
      /services\.web\.instances: expected at most 1000 instances, got 2000/,
    );
    const cache = path.join(cacheHome, 'msup', 'jiti');
    expect(statSync(cache).mode & 0o777).toBe(0o700);
    expect(statSync(path.dirname(cache)).mode & 0o777).toBe(0o700);
    const compiled = readdirSync(cache);
    expect(compiled).toHaveLength(1);
    expect(compiled[0]).toMatch(/supervisor\.config\.[0-9a-f]+\.mjs$/);
    // Nothing compiled is kept in the project, where a copy that came with it could run in the config's place.
    expect(existsSync(path.join(project.root, '.msup', 'cache'))).toBe(false);

    // The same config again: the cached copy serves (nothing new compiled), with the same answer.
    const before = readFileSync(path.join(cache, compiled[0] as string), 'utf8');
    expect(await problem(project, cacheHome)).toMatch(/got 2000 \[MSUP_CONFIG_INVALID\]/);
    expect(readdirSync(cache)).toEqual(compiled);

    // A changed config is compiled again, never answered from the old copy (whose place it takes).
    project.write('supervisor.config.ts', config('3s'));
    expect(await problem(project, cacheHome)).toMatch(/got 3000 \[MSUP_CONFIG_INVALID\]/);
    expect(readdirSync(cache)).toEqual(compiled);
    expect(readFileSync(path.join(cache, compiled[0] as string), 'utf8')).not.toBe(before);
  });

  it("compiles its worker with V8's code cache: written once, then used, replaced when damaged", async () => {
    const { project, cacheHome, dir, file } = await withCodeCache();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^load-worker-[0-9a-f]{8}-[0-9a-f]{8}\.bin$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(file).size).toBeGreaterThan(10_000);
    // V8 took it: a cache it rejects is written again (a new file renamed over it: another inode).
    const { ino } = statSync(file);
    expect(await problem(project, cacheHome)).toMatch(/got 2000 \[MSUP_CONFIG_INVALID\]/);
    expect(statSync(file).ino).toBe(ino);
    // A damaged cache is rejected: the config still loads, the cache is written anew, and an older
    // build's cache of the same worker is removed.
    writeFileSync(file, 'not a code cache');
    const older = file.replace(/-[0-9a-f]{8}\.bin$/, '-00000000.bin');
    writeFileSync(older, 'an older build');
    expect(await problem(project, cacheHome)).toMatch(/got 2000 \[MSUP_CONFIG_INVALID\]/);
    expect(readdirSync(dir)).toEqual(files);
    expect(statSync(file).size).toBeGreaterThan(10_000);
  });

  it('is not crashed by a code cache damaged inside its payload (its header intact)', async () => {
    const { project, cacheHome, file } = await withCodeCache();
    // V8 checks a code cache's header (magic, version, flags, source length) but in release builds not its
    // payload's checksum: bytes damaged on disk past the header are deserialised as they are.
    const bytes = readFileSync(file);
    const middle = Math.floor(bytes.length / 2);
    for (let i = middle; i < middle + 4096; i++) bytes[i] = (bytes[i] as number) ^ 0xff;
    writeFileSync(file, bytes);
    expect(await problem(project, cacheHome)).toMatch(/got 2000 \[MSUP_CONFIG_INVALID\]/);
  });

  it('loads without a cache where the cache folder cannot be made', async () => {
    const project = newProject();
    const notAFolder = project.write('cache-home', 'a file, not a folder\n');
    project.write('supervisor.config.ts', config('4s'));
    expect(await problem(project, notAFolder)).toMatch(/got 4000 \[MSUP_CONFIG_INVALID\]/);
  });

  it('passes on an MsupError that the config throws, with its code and issues', async () => {
    const project = newProject();
    project.write(
      'supervisor.config.ts',
      `import { MsupError } from 'msupervisor';
if (!process.env.NOT_SET_ANYWHERE) {
  throw new MsupError('MSUP_CONFIG_INVALID', 'NOT_SET_ANYWHERE must be set', {
    issues: [{ path: 'env.NOT_SET_ANYWHERE', message: 'required' }],
  });
}
export default { services: {} };
`,
    );
    const stderr = await problem(project, path.join(project.root, 'cache-home'));
    expect(stderr).toContain('NOT_SET_ANYWHERE must be set');
    expect(stderr).toMatch(/\[MSUP_CONFIG_INVALID\]/);
    expect(stderr).not.toMatch(/MSUP_CONFIG_LOAD/);
  });
});

describe('a config loaded in the built worker', () => {
  /** The built loader (the worker is only used from the build). */
  const builtLoader = async (): Promise<typeof import('../../src/config/load-isolated.js')> =>
    import(path.resolve(import.meta.dirname, '../../dist/config/load-isolated.js'));

  it('that never finishes loading fails with MSUP_CONFIG_LOAD at the deadline, its worker ended', async () => {
    const { loadConfigIsolated } = await builtLoader();
    const project = newProject();
    project.write(
      'never.config.mjs',
      'export default async () => { setInterval(() => {}, 1000); await new Promise(() => {}); };\n',
    );
    project.write('busy.config.mjs', 'export default () => { for (;;) {} };\n');
    for (const file of ['never.config.mjs', 'busy.config.mjs']) {
      const load = loadConfigIsolated({ cwd: project.root, configFile: file, loadTimeoutMs: 300 });
      await expect(load).rejects.toMatchObject({
        code: 'MSUP_CONFIG_LOAD',
        message: expect.stringMatching(/did not finish loading within 0\.3 s/),
      });
    }
    // A promise that never settles, with nothing else to wait for, ends the worker at once.
    project.write('pending.config.mjs', 'export default () => new Promise(() => {});\n');
    await expect(
      loadConfigIsolated({ cwd: project.root, configFile: 'pending.config.mjs' }),
    ).rejects.toMatchObject({
      code: 'MSUP_CONFIG_LOAD',
      message: expect.stringMatching(/ended \(exit 0\) without an answer/),
    });
  });

  it('keeps the import error behind MSUP_CONFIG_LOAD as its cause', async () => {
    const { loadConfigIsolated } = await builtLoader();
    const project = newProject();
    project.write('broken.config.mjs', "import './does-not-exist.mjs';\nexport default { services: {} };\n");
    const error = (await loadConfigIsolated({ cwd: project.root, configFile: 'broken.config.mjs' }).then(
      () => new Error('loaded'),
      (e: unknown) => e,
    )) as Error & { code?: string };
    expect(error).toMatchObject({ code: 'MSUP_CONFIG_LOAD' });
    expect(error.cause).toBeInstanceOf(Error);
    expect((error.cause as Error).message).toMatch(/does-not-exist/);
  });
});

describe('a config that misbehaves as it loads', () => {
  const builtLoader = async (): Promise<typeof import('../../src/config/load-isolated.js')> =>
    import(path.resolve(import.meta.dirname, '../../dist/config/load-isolated.js'));

  it('that throws or rejects outside its load fails with MSUP_CONFIG_LOAD, not a crash of msup', async () => {
    const { loadConfigIsolated } = await builtLoader();
    const project = newProject();
    project.write(
      'late.mjs',
      "setTimeout(() => { throw new Error('late throw'); }, 0);\nexport default new Promise((r) => setTimeout(() => r({ services: {} }), 200));\n",
    );
    project.write(
      'rejects.mjs',
      "Promise.reject(new Error('nobody awaits this'));\nexport default { services: { a: { command: 'sleep 1' } } };\n",
    );
    for (const [file, reason] of [
      ['late.mjs', 'late throw'],
      ['rejects.mjs', 'nobody awaits this'],
    ] as const) {
      const error = (await loadConfigIsolated({ cwd: project.root, configFile: file }).then(
        () => new Error('loaded'),
        (e: unknown) => e,
      )) as Error & { code?: string };
      expect(error).toMatchObject({ code: 'MSUP_CONFIG_LOAD', message: `could not load ${file}: ${reason}` });
      expect((error.cause as Error).message).toBe(reason);
    }
    const cli = runCli(project, ['start', '-c', 'late.mjs', '--no-color']);
    expect((await cli.exited).code).toBe(2);
    expect(cli.stderr()).toContain('msup: could not load late.mjs: late throw [MSUP_CONFIG_LOAD]');
    expect(cli.stderr()).not.toMatch(/unexpected error/);
  });

  it("prints what it prints on msup's stderr, keeping stdout for msup's own output (--json)", async () => {
    const project = newProject();
    project.write(
      'print.mjs',
      "process.stdout.write('hello from the config\\n');\nexport default { services: { web: { command: 'node x.js', instances: 0 } } };\n",
    );
    const cli = runCli(project, ['start', '-c', 'print.mjs', '--json']);
    expect((await cli.exited).code).toBe(2);
    expect(cli.stderr()).toMatch(/\[MSUP_CONFIG_INVALID\]/);
    expect(cli.stdout()).not.toContain('hello from the config');
    expect(cli.stderr()).toContain('hello from the config\n');
  });

  it('that never answers is ended when msup stops: Ctrl-C stops msup at once', async () => {
    const project = newProject();
    project.write(
      'never.mjs',
      "process.stdout.write('loading\\n');\nsetInterval(() => {}, 1000);\nexport default new Promise(() => {});\n",
    );
    const cli = runCli(project, ['start', '-c', 'never.mjs', '--no-color']);
    expect(await waitFor(() => cli.stderr().includes('loading'))).toBe(true);
    cli.child.kill('SIGINT');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(cli.stdout()).toMatch(/stopping \(Ctrl-C again to force\)/);
    expect(cli.stderr()).not.toMatch(/MSUP_CONFIG_LOAD/);
  });

  it('ends its worker when the signal given to the load aborts, early load or not', async () => {
    const { loadConfigEarly, loadConfigIsolated } = await builtLoader();
    const project = newProject();
    project.write('never.mjs', 'setInterval(() => {}, 1000);\nexport default new Promise(() => {});\n');
    const options = { cwd: project.root, configFile: 'never.mjs' };
    for (const early of [false, true]) {
      if (early) loadConfigEarly(options);
      const abort = new AbortController();
      const load = loadConfigIsolated({ ...options, signal: abort.signal });
      setTimeout(() => abort.abort(), 100);
      await expect(load).rejects.toMatchObject({
        code: 'MSUP_STOPPED',
        message: 'stopped while the config was loading',
      });
    }
  });
});

describe('--config that names no file', () => {
  it('is refused when empty or a folder, never taken for the folder or its parent project', async () => {
    const project = newProject();
    // The project's own config is invalid: loading it by mistake would say so.
    project.write(
      'supervisor.config.json',
      '{ "services": { "web": { "command": "x", "instances": -1 } } }\n',
    );
    project.write('app/.keep', '');
    const folder = path.join(project.root, 'app');
    for (const args of [
      ['start', '-c', ''],
      ['status', '-c', ''],
    ]) {
      const cli = runCli(project, args);
      expect((await cli.exited).code).toBe(2);
      expect(cli.stderr()).toBe('msup: --config needs a file name, not an empty string [MSUP_USAGE]\n');
    }
    for (const [args, cwd] of [
      [['start', '-c', 'app'], project.root],
      [['status', '-c', 'app'], project.root],
      [['start', '-c', '.'], folder],
    ] as const) {
      const cli = runCli(project, [...args], { cwd });
      expect((await cli.exited).code).toBe(2);
      expect(cli.stderr()).toBe(
        `msup: ${folder} is a folder, not a config file; name the file (such as ${path.join(folder, 'supervisor.config.ts')}), or run msup in that folder [MSUP_CONFIG_NOT_FOUND]\n`,
      );
    }
  });
});
