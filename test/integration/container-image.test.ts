// The image for a service, built for real on podman: the minimal image runs node and sh with the folder at
// its own path, is cached by content, honours .containerignore; a Containerfile is built; a given image is used as is.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prepareConfig } from '../../src/config/load.js';
import { isMsupError } from '../../src/errors.js';
import { type Engine, engineCommand } from '../../src/runtime/container/engine.js';
import { ensureImage } from '../../src/runtime/container/image.js';
import type { ResolvedService, ServiceConfig } from '../../src/types.js';
import { imageExists, needsPodman, runOnce, useEngineCleanup } from '../helpers/engines.js';

let engine: Engine | undefined;
let skipReason = '';
beforeAll(async () => {
  const found = await needsPodman();
  engine = found.engine;
  skipReason = found.skip ?? '';
});
const cleanup = useEngineCleanup(() => engine);

let root = '';
afterEach(() => {
  if (root) rmSync(root, { recursive: true, force: true });
  root = '';
});

function project(files: Record<string, string>): string {
  root = mkdtempSync(path.join(os.tmpdir(), 'msup-image-'));
  for (const [name, content] of Object.entries(files)) write(name, content);
  return root;
}

function write(name: string, content: string) {
  const file = path.join(root, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
}

function service(config: ServiceConfig, name = 'app'): ResolvedService {
  return prepareConfig({ services: { [name]: config } }, root, null).services[0] as ResolvedService;
}

async function build(svc: ResolvedService, progress: string[] = []) {
  const image = await ensureImage(engine as Engine, svc, root, (m) => progress.push(m));
  cleanup.image(image.ref);
  return image;
}

const run = (ref: string, args: string[]) => runOnce(engine as Engine, ref, cleanup.label(), args);

describe('ensureImage', { timeout: 180_000 }, () => {
  it('a minimal image runs node and sh, with the service folder at its own path', async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    project({
      'main.js': 'console.log("main says", process.argv[2]);\n',
      'data/hello.txt': 'hello from the folder\n',
    });
    const progress: string[] = [];
    const image = await build(service({ command: 'node main.js' }), progress);
    expect(image).toMatchObject({ built: true, kind: 'minimal' });
    expect(image.ref).toMatch(/^localhost\/msup-app:[0-9a-f]{12}$/);
    expect(progress.join('\n')).toMatch(/hashed \d+ files .* in \d+\.\d s/);
    expect(progress.join('\n')).toMatch(/built localhost\/msup-app:\w+ in \d+\.\d s/);

    // `node` on PATH, the working directory is the service folder, and absolute paths are the host's.
    const node = await run(image.ref, ['node', 'main.js', 'hi']);
    expect(node).toMatchObject({ code: 0, stdout: 'main says hi\n' });
    const absolute = await run(image.ref, [
      'node',
      '-e',
      `process.stdout.write(require('fs').readFileSync(${JSON.stringify(path.join(root, 'data/hello.txt'))}, 'utf8'))`,
    ]);
    expect(absolute).toMatchObject({ code: 0, stdout: 'hello from the folder\n' });
    const shell = await run(image.ref, ['sh', '-c', 'echo "$((20 + 22)) $(pwd)" && node -p "1 + 1"']);
    expect(shell).toMatchObject({ code: 0, stdout: `42 ${root}\n2\n` });

    const labels = await engineCommand(engine, [
      'image',
      'inspect',
      '--format',
      '{{json .Config.Labels}}',
      image.ref,
    ]);
    expect(JSON.parse(labels.stdout)).toMatchObject({
      'msup.service': 'app',
      'msup.hash': expect.any(String),
    });
  });

  it('is built once: nothing changed is a cache hit, a changed file a new image (the old one removed)', async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    project({ 'main.js': 'console.log("v1");\n' });
    const svc = service({ command: 'node main.js' });
    const first = await build(svc);
    expect(first.built).toBe(true);

    const progress: string[] = [];
    const again = await build(svc, progress);
    expect(again).toEqual({ ref: first.ref, built: false, kind: 'minimal' });
    expect(progress.join('\n')).toContain(`image ${first.ref} is up to date`);

    write('main.js', 'console.log("v2");\n');
    const changed = await build(svc);
    expect(changed.built).toBe(true);
    expect(changed.ref).not.toBe(first.ref);
    expect(await run(changed.ref, ['node', 'main.js'])).toMatchObject({ code: 0, stdout: 'v2\n' });
    expect(await imageExists(engine, first.ref)).toBe(false);
  });

  it('leaves out what msup export wrote into the folder: it names the image, so it would change it', async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    project({ 'main.js': 'console.log("v1");\n', 'deploy/README': 'exports go here\n' });
    const svc = service({ command: 'node main.js' });
    const first = await build(svc);
    // An export names the image's tag: the next start (or export) finds the same image.
    write(
      'compose.yaml',
      `# Generated by msup export (compose from …): edit that and export again.\nimage: ${first.ref}\n`,
    );
    write('deploy/k8s.yaml', `# Generated by msup export (k8s from …)\nimage: ${first.ref}\n`);
    // So is the folder an export made for its file alone (`--out out`), at any depth.
    write('out/k8s/k8s.yaml', `# Generated by msup export (k8s from …)\nimage: ${first.ref}\n`);
    expect(await build(svc)).toEqual({ ref: first.ref, built: false, kind: 'minimal' });
    // A YAML file of the user's own is content like any other; the export's stays out of the new image.
    write('settings.yaml', 'mode: fast\n');
    const changed = await build(svc);
    expect(changed.built).toBe(true);
    const has = async (file: string) =>
      (await run(changed.ref, ['sh', '-c', `test -e ${root}/${file}`])).code;
    expect(
      await Promise.all(['settings.yaml', 'compose.yaml', 'deploy/k8s.yaml', 'deploy', 'out'].map(has)),
    ).toEqual([0, 1, 1, 0, 1]);
  });

  it('services sharing a folder share its content; a rebuild of one removes only its own older image', async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    project({ 'main.js': 'console.log("v1");\n' });
    const a = service({ command: 'node main.js' }, 'a');
    const b = prepareConfig({ services: { b: { command: 'node main.js' } } }, root, null)
      .services[0] as ResolvedService;
    const first = await build(a);
    const progress: string[] = [];
    const twin = await build(b, progress);
    expect(twin).toMatchObject({ built: true, kind: 'minimal' });
    expect(twin.ref.split(':')[1]).toBe(first.ref.split(':')[1]);
    expect(progress.join('\n')).toContain(`same content as ${first.ref}, labelled for b`);
    const label = await engineCommand(engine, [
      'image',
      'inspect',
      '--format',
      '{{index .Config.Labels "msup.service"}}',
      twin.ref,
    ]);
    expect(label.stdout.trim()).toBe('b');

    write('main.js', 'console.log("v2");\n');
    const second = await build(a);
    expect(second.ref).not.toBe(first.ref);
    expect(await imageExists(engine, first.ref)).toBe(false);
    // b's image is b's: a's rebuild leaves it alone.
    expect(await imageExists(engine, twin.ref)).toBe(true);
  });

  it("an image the user built FROM msup's is the user's: not taken as a twin, not pruned", async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    project({ 'main.js': 'console.log("v1");\n' });
    const a = service({ command: 'node main.js' }, 'a');
    const first = await build(a);
    // FROM msup's image, with a file of the user's: it inherits msup.project, msup.service and msup.hash.
    const context = mkdtempSync(path.join(os.tmpdir(), 'msup-user-image-'));
    const snap = cleanup.image(`localhost/user-snap-${cleanup.label().slice(0, 8)}:1`);
    try {
      writeFileSync(path.join(context, 'marker.txt'), "the user's\n");
      writeFileSync(path.join(context, 'Containerfile'), `FROM ${first.ref}\nCOPY marker.txt /marker.txt\n`);
      const built = await engineCommand(engine, ['build', '--pull=never', '-t', snap, context]);
      expect(built.code, built.stderr).toBe(0);
    } finally {
      rmSync(context, { recursive: true, force: true });
    }
    // Another service of the folder: its image is made from msup's, not from the user's.
    const b = await build(service({ command: 'node main.js' }, 'b'));
    expect(await run(b.ref, ['sh', '-c', 'test -e /marker.txt && echo user || echo msup'])).toMatchObject({
      stdout: 'msup\n',
    });
    // A change: a's older image goes, the user's stays.
    write('main.js', 'console.log("v2");\n');
    const second = await build(a);
    expect(second.ref).not.toBe(first.ref);
    expect(await imageExists(engine, first.ref)).toBe(false);
    expect(await imageExists(engine, snap)).toBe(true);
  });

  it('honours .containerignore, and always leaves out .git and .msup', async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    project({
      'main.js': '',
      '.containerignore': '# comments are ignored\nsecret.txt\nlogs/\n!logs/keep.log\n**/*.tmp\n',
      'secret.txt': 'do not ship',
      'logs/other.log': 'x',
      'logs/keep.log': 'kept',
      'deep/er/scratch.tmp': 'x',
      'deep/er/real.js': 'x',
      '.git/HEAD': 'ref: refs/heads/main\n',
      '.msup/state.json': '{}',
    });
    const svc = service({ command: 'node main.js' });
    const image = await build(svc);
    const check = await run(image.ref, [
      'sh',
      '-c',
      'test ! -e secret.txt && test ! -e .git && test ! -e .msup && test ! -e logs/other.log && ' +
        'test -e logs/keep.log && test ! -e deep/er/scratch.tmp && test -e deep/er/real.js && test -e main.js',
    ]);
    expect(check).toMatchObject({ code: 0 });
    // An ignored file changes nothing.
    write('secret.txt', 'changed');
    write('.git/HEAD', 'ref: refs/heads/other\n');
    expect(await build(svc)).toEqual({ ref: image.ref, built: false, kind: 'minimal' });
  });

  it('warns of links that will not resolve in the image, on every start', async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    project({ 'main.js': '', '.containerignore': 'cache/\n', 'cache/data.bin': 'x' });
    const outside = mkdtempSync(path.join(os.tmpdir(), 'msup-image-outside-'));
    try {
      symlinkSync(outside, path.join(root, 'node_modules')); // as a checkout that links another's
      symlinkSync('cache/data.bin', path.join(root, 'data.bin')); // left out by .containerignore
      symlinkSync('main.js', path.join(root, 'index.js')); // resolves: no warning
      const svc = service({ command: 'node index.js' });
      const seen: [string, string | undefined][] = [];
      const onProgress = (m: string, level?: 'info' | 'warn') => seen.push([m, level]);
      const image = await ensureImage(engine as Engine, svc, root, onProgress);
      cleanup.image(image.ref);
      const warnings = seen.filter(([, level]) => level === 'warn').map(([m]) => m);
      expect(warnings).toEqual([
        `2 symbolic links of ${root} will not resolve in the image (the target is outside the folder, or left ` +
          `out by .containerignore): data.bin -> cache/data.bin, node_modules -> ${outside}; what runs on the ` +
          'host may fail in the container',
      ]);
      // In the container it is as said: the link to the folder's own file works, the others lead nowhere.
      expect(
        await run(image.ref, [
          'sh',
          '-c',
          'test -e index.js && test ! -e data.bin && test ! -e node_modules',
        ]),
      ).toMatchObject({ code: 0 });
      // An image already made: the warning again.
      seen.length = 0;
      expect(await ensureImage(engine as Engine, svc, root, onProgress)).toMatchObject({ built: false });
      expect(seen.filter(([, level]) => level === 'warn')).toHaveLength(1);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('builds the Containerfile of the service folder, and caches it by its inputs', async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    project({ 'base/main.js': '', 'app/greeting.txt': 'hi from the Containerfile\n' });
    // No registry: the base is a minimal image made here.
    const base = await build(service({ command: 'node main.js', cwd: 'base' }, 'base'));
    write('app/Containerfile', `FROM ${base.ref}\nCOPY greeting.txt /greeting.txt\n`);
    const svc = service({ command: 'node -e 0', cwd: 'app' });
    const progress: string[] = [];
    const image = await build(svc, progress);
    expect(image).toMatchObject({ built: true, kind: 'containerfile' });
    expect(progress.join('\n')).toContain(path.join(root, 'app', 'Containerfile'));
    expect(await run(image.ref, ['sh', '-c', 'read -r line < /greeting.txt && echo "$line"'])).toMatchObject({
      code: 0,
      stdout: 'hi from the Containerfile\n',
    });
    expect(await build(svc)).toEqual({ ref: image.ref, built: false, kind: 'containerfile' });
    // An ignore file that leaves the Containerfile out (common with .dockerignore): a change still counts.
    write('app/.containerignore', 'Containerfile\n');
    const ignored = await build(svc);
    write('app/Containerfile', `FROM ${base.ref}\nCOPY greeting.txt /hello.txt\n`);
    const changed = await build(svc);
    expect(changed).toMatchObject({ built: true, kind: 'containerfile' });
    expect(changed.ref).not.toBe(ignored.ref);
    expect(await run(changed.ref, ['sh', '-c', 'test -e /hello.txt'])).toMatchObject({ code: 0 });
  });

  /**
   * Builds the project's folder with `COPY . /app` over a base image of `base/`, and runs the image: each
   * of `paths` that is in /app, one a line.
   */
  const copiedIntoImage = async (paths: readonly string[]) => {
    const base = await build(service({ command: 'node main.js', cwd: 'base' }, 'base'));
    write('Containerfile', `FROM ${base.ref}\nCOPY . /app\n`);
    const image = await build(service({ command: 'node main.js' }));
    return run(image.ref, [
      'sh',
      '-c',
      `for f in ${paths.join(' ')}; do test -e "/app/$f" && echo "$f"; done; true`,
    ]);
  };

  it("leaves msup's own folder (.msup) out of a Containerfile's build context, with the user's rules kept", async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    // The service folder is the project's: its .msup holds the state, the logs, the mesh CA's key.
    project({
      'base/main.js': '',
      'main.js': '',
      'debug.log': 'left out by the ignore file\n',
      'keep.log': 'brought back by an exception\n',
      '.msup/state.json': '{"secret":true}\n',
      '.msup/logs/msup.log': 'private\n',
      'sub/.msup/x': 'a nested one too\n',
      '.containerignore': '*.log\n!keep.log\n',
    });
    const seen = await copiedIntoImage([
      '.msup',
      '.msup/state.json',
      'sub/.msup',
      'main.js',
      'sub',
      'debug.log',
      'keep.log',
    ]);
    expect(seen).toMatchObject({ code: 0, stdout: 'main.js\nsub\nkeep.log\n' });
  });

  it('reads the ignore file beside the Containerfile first, as the engines do: what it leaves out stays out', async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    project({
      'base/main.js': '',
      'main.js': '',
      'secret.env': 'TOKEN=1\n',
      'debug.log': 'the folder file leaves it out, but the file beside the Containerfile wins\n',
      '.containerignore': '*.log\n',
      'Containerfile.containerignore': 'secret.env\n',
    });
    const seen = await copiedIntoImage(['secret.env', 'debug.log', 'main.js', '.msup']);
    expect(seen).toMatchObject({ code: 0, stdout: 'debug.log\nmain.js\n' });
  });

  it('builds again when a base image of the Containerfile was rebuilt under the same tag', async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    project({ 'base/main.js': 'one', 'app/greeting.txt': 'hi\n' });
    const tag = cleanup.image(`localhost/user-base-${cleanup.label().slice(0, 8)}:1`);
    const retag = async (ref: string) => {
      const tagged = await engineCommand(engine as Engine, ['tag', ref, tag]);
      expect(tagged.code, tagged.stderr).toBe(0);
    };
    await retag((await build(service({ command: 'node main.js', cwd: 'base' }, 'base'))).ref);
    write('app/Containerfile', `FROM ${tag} AS base\nFROM base\nCOPY greeting.txt /greeting.txt\n`);
    const svc = service({ command: 'node -e 0', cwd: 'app' });
    const first = await build(svc);
    expect(await build(svc)).toMatchObject({ ref: first.ref, built: false });
    // The user rebuilds the base under the same tag: the engine's cache would build again, and so does msup.
    write('base/main.js', 'two');
    await retag((await build(service({ command: 'node main.js', cwd: 'base' }, 'base'))).ref);
    const second = await build(svc);
    expect(second).toMatchObject({ built: true, kind: 'containerfile' });
    expect(second.ref).not.toBe(first.ref);
    const main = path.join(root, 'base', 'main.js');
    expect(await run(second.ref, ['sh', '-c', `read -r x < ${main}; echo "$x"`])).toMatchObject({
      stdout: 'two\n',
    });
  });

  /** A service whose main.js prints data.txt, which says 'before'. */
  const dataProject = () =>
    project({
      'main.js': 'process.stdout.write(require("fs").readFileSync("data.txt", "utf8"))\n',
      'data.txt': 'before\n',
    });

  /**
   * Builds the image of dataProject(); at the moment the folder has been listed and hashed and its bytes
   * are about to be streamed, data.txt is saved as `after`, once (the first build), as an editor would.
   */
  async function buildSavingOnce(after: string) {
    const progress: string[] = [];
    let saves = 0;
    const image = await ensureImage(engine as Engine, service({ command: 'node main.js' }), root, (m) => {
      progress.push(m);
      if (m.startsWith('building ') && saves++ === 0) write('data.txt', after);
    });
    cleanup.image(image.ref);
    return { image, progress: progress.join('\n'), saves };
  }

  it('a file saved while the image is made: the folder is hashed again and the image holds the new file', async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    dataProject();
    // The engine's temporary files go under TMPDIR: a folder of this test's, to see that the killed
    // import's partial file (as large as the image) does not stay behind.
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'msup-image-tmp-'));
    const tmpBefore = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    let saved: Awaited<ReturnType<typeof buildSavingOnce>>;
    try {
      saved = await buildSavingOnce('after, a longer line\n');
    } finally {
      if (tmpBefore === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = tmpBefore;
    }
    const { image, progress, saves } = saved;
    expect(readdirSync(tmp)).toEqual([]);
    rmSync(tmp, { recursive: true, force: true });
    expect(progress).toContain(
      `${path.join(root, 'data.txt')} changed while the image was being made (size 7, now more than 7): hashing the folder again`,
    );
    expect(saves).toBe(2);
    expect(await run(image.ref, ['node', 'main.js'])).toMatchObject({
      code: 0,
      stdout: 'after, a longer line\n',
    });
    // Its label is the hash of what it holds: asked again, it is up to date.
    expect(await build(service({ command: 'node main.js' }))).toEqual({
      ref: image.ref,
      built: false,
      kind: 'minimal',
    });
  });

  it('a file saved with the same size while the image is made: seen by its times, hashed again', async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    dataProject();
    const { image, progress } = await buildSavingOnce('after!\n');
    expect(progress).toContain(
      `${path.join(root, 'data.txt')} changed while the image was being made (same size, its times changed): hashing the folder again`,
    );
    expect(await run(image.ref, ['node', 'main.js'])).toMatchObject({ code: 0, stdout: 'after!\n' });
    // Its label is the hash of what it holds: the file written back as it was gets an image of its own.
    write('data.txt', 'before\n');
    const back = await build(service({ command: 'node main.js' }));
    expect(back.ref).not.toBe(image.ref);
    expect(await run(back.ref, ['node', 'main.js'])).toMatchObject({ code: 0, stdout: 'before\n' });
  });

  it('a file that changes on every try, or goes away: MSUP_IMAGE_FAILED naming it, after a second try', async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    project({ 'main.js': '' });
    write('log.txt', 'x');
    let tries = 0;
    const growing = await ensureImage(engine as Engine, service({ command: 'node main.js' }), root, (m) => {
      if (m.startsWith('building ')) write('log.txt', 'x'.repeat(2 + tries++));
    }).catch((e: unknown) => e);
    expect(tries).toBe(2);
    expect(isMsupError(growing, 'MSUP_IMAGE_FAILED')).toBe(true);
    expect((growing as Error).message).toContain(
      `${path.join(root, 'log.txt')} changed while the image was being made`,
    );
    expect((growing as Error).message).toContain('twice in a row');
    expect((growing as Error).message).toContain('.containerignore');

    // Removed after the listing: the same, once; then the folder without it is made.
    write('gone.txt', 'soon gone');
    const progress: string[] = [];
    let removed = false;
    const image = await ensureImage(engine as Engine, service({ command: 'node main.js' }), root, (m) => {
      progress.push(m);
      if (m.startsWith('building ') && !removed) {
        removed = true;
        rmSync(path.join(root, 'gone.txt'));
      }
    });
    cleanup.image(image.ref);
    expect(progress.join('\n')).toContain(
      `${path.join(root, 'gone.txt')} changed while the image was being made (removed)`,
    );
    expect(await run(image.ref, ['sh', '-c', 'echo *'])).toMatchObject({
      code: 0,
      stdout: 'log.txt main.js\n',
    });
  });

  it('uses container.image as given, and names a missing one (never pulled)', async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    project({ 'main.js': '' });
    const base = await build(service({ command: 'node main.js' }));
    const given = service({ command: 'node main.js', container: { image: base.ref } }, 'given');
    expect(await ensureImage(engine, given, root)).toEqual({ ref: base.ref, built: false, kind: 'given' });

    const missing = service(
      { command: 'x', container: { image: 'localhost/msup-no-such-image:1' } },
      'ghost',
    );
    const error = await ensureImage(engine, missing, root).catch((e: unknown) => e);
    expect(isMsupError(error, 'MSUP_IMAGE_FAILED')).toBe(true);
    expect((error as Error).message).toContain('service "ghost"');
    expect((error as Error).message).toContain('"localhost/msup-no-such-image:1"');
    expect((error as Error).message).toContain('does not pull');
  });
});
