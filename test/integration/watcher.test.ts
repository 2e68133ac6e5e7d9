// The real chokidar watcher on a temp folder: globs, default ignores, debounce into one call, late folders, close.
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createWatcher,
  LINKS_TOLD,
  type SkippedLink,
  type Watcher,
  type WatcherOptions,
} from '../../src/watch/watcher.js';
import { waitFor } from '../helpers/processes.js';

let root = '';
const open: Watcher[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((w) => w.close()));
  if (root) rmSync(root, { recursive: true, force: true });
  root = '';
});

function project(files: Record<string, string> = {}): string {
  root = mkdtempSync(path.join(os.tmpdir(), 'msup-watch-'));
  for (const [name, content] of Object.entries(files)) write(name, content);
  return root;
}

function write(name: string, content = String(Math.random())): void {
  const file = path.join(root, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
}

async function watching(options: Omit<WatcherOptions, 'cwd' | 'onChange'>) {
  const calls: string[][] = [];
  const errors: Error[] = [];
  const skipped: SkippedLink[] = [];
  const untold: number[] = [];
  const watcher = createWatcher({
    cwd: root,
    debounceMs: 100,
    ...options,
    onChange: (files) => calls.push(files),
    onError: (error) => errors.push(error),
    onLinkSkipped: (link) => skipped.push(link),
    onLinksUntold: (count) => untold.push(count),
  });
  open.push(watcher);
  await watcher.ready;
  return { watcher, calls, errors, skipped, untold };
}

/** Writes `name` and waits for the call that reports it; returns every call made until then. */
async function until(calls: string[][], name: string, action = () => write(name)) {
  action();
  expect(await waitFor(() => calls.some((c) => c.includes(name)), 10_000)).toBe(true);
  return calls;
}

describe('createWatcher', () => {
  it('reports files matching a glob, relative to cwd, and nothing for the initial scan', async () => {
    project({ 'src/old.ts': 'x', 'src/old.js': 'x' });
    const { calls, errors } = await watching({ paths: ['src/**/*.ts'] });
    write('src/old.js');
    write('README.md');
    const seen = await until(calls, 'src/deep/new.ts');
    expect(seen.flat()).toEqual(['src/deep/new.ts']);
    await until(calls, 'src/old.ts');
    expect(calls.flat()).not.toContain('src/old.js');
    expect(errors).toEqual([]);
  });

  it('turns a burst of changes into one call with the distinct files', async () => {
    project();
    const { calls } = await watching({ paths: true, debounceMs: 500 });
    const burst = Array.from({ length: 10 }, (_, i) => `burst/f${i}.txt`);
    for (const name of burst) write(name);
    for (const name of burst) write(name); // the same files again: still reported once
    expect(await waitFor(() => calls.length > 0)).toBe(true);
    await until(calls, 'after.txt');
    expect(calls).toEqual([[...burst].sort(), ['after.txt']]);
  });

  it("ignores node_modules, .git, build output, .msup, logs, editors' files and watchIgnore entries", async () => {
    project({ 'node_modules/.keep': '', '.msup/.keep': '' });
    const { calls } = await watching({ paths: true, ignored: ['tmp', '*.gen.ts'] });
    for (const name of [
      'node_modules/pkg/index.js',
      '.git/HEAD',
      'dist/out.js',
      'build/out.js',
      'coverage/lcov.info',
      '.msup/state.json',
      'app.log',
      'tmp/cache.bin',
      'src/api.gen.ts',
      'src/#index.ts#',
      'src/.#index.ts',
      'src/4913',
    ])
      write(name);
    await until(calls, 'src/index.ts');
    await until(calls, 'last.txt');
    expect(calls.flat().sort()).toEqual(['last.txt', 'src/index.ts']);
  });

  it("watches folders named as editors' files are (content/4913/, #notes#/), ignoring only such files", async () => {
    project({ 'content/4913/old.md': 'x' });
    const { calls } = await watching({ paths: true });
    write('content/4913/4913'); // a file of that name in it is still vim's
    write('notes/#todo.md#');
    await until(calls, 'content/4913/old.md');
    await until(calls, '#notes#/todo.md');
    await until(calls, 'last.txt');
    expect(calls.flat().sort()).toEqual(['#notes#/todo.md', 'content/4913/old.md', 'last.txt']);
  });

  it("watches a folder named as an Emacs lock is (.#drafts/), ignoring only the editors' files", async () => {
    project({ '.#drafts/post.md': 'x', 'src/app.js': 'x' });
    const { calls, errors } = await watching({ paths: true });
    // what Emacs, vim and JetBrains write next to src/app.js as it is edited: none of it is a change
    symlinkSync('user@host.4242:1700000000', path.join(root, 'src/.#app.js')); // Emacs' lock, a dangling link
    write('src/#app.js#');
    write('src/.app.js.swp');
    write('src/app.js~');
    write('src/app.js___jb_tmp___');
    write('.#drafts/.#post.md');
    await until(calls, '.#drafts/post.md');
    await until(calls, '.#notes/later.md'); // made after the start
    await until(calls, 'last.txt');
    expect(calls.flat().sort()).toEqual(['.#drafts/post.md', '.#notes/later.md', 'last.txt']);
    expect(errors).toEqual([]);
  });

  it("watches the whole cwd for '.' in the list, as for true", async () => {
    project({ 'app.js': 'x', 'src/old.ts': 'x' });
    const { calls, errors } = await watching({ paths: ['.'] });
    await until(calls, 'app.js');
    await until(calls, 'src/old.ts');
    await until(calls, 'src/deep/new.ts');
    write('node_modules/x/index.js');
    await until(calls, 'last.txt');
    expect(calls.flat().sort()).toEqual(['app.js', 'last.txt', 'src/deep/new.ts', 'src/old.ts']);
    expect(errors).toEqual([]);
  });

  it("reports the cwd's own files for '..' and '../..' (a monorepo's package watching its neighbours)", async () => {
    project({ 'packages/api/app.js': 'x', 'packages/web/index.js': 'x', 'README.md': 'x' });
    const api = path.join(root, 'packages/api');
    for (const paths of [['..'], ['../..']]) {
      const calls: string[][] = [];
      const errors: Error[] = [];
      const watcher = createWatcher({
        cwd: api,
        paths,
        debounceMs: 100,
        onChange: (files) => calls.push(files),
        onError: (error) => errors.push(error),
      });
      open.push(watcher);
      await watcher.ready;
      await until(calls, 'app.js', () => write('packages/api/app.js'));
      await until(calls, 'src/new.js', () => write('packages/api/src/new.js'));
      await until(calls, '../web/index.js', () => write('packages/web/index.js'));
      expect({ paths, files: calls.flat().sort() }).toEqual({
        paths,
        files: ['../web/index.js', 'app.js', 'src/new.js'],
      });
      expect(errors).toEqual([]);
      await watcher.close();
    }
  });

  it("reports the cwd's own files that a glob through '..' matches (../*/src/**/*.js)", async () => {
    project({ 'packages/api/src/a.js': 'x', 'packages/api/test/t.js': 'x', 'packages/web/src/b.js': 'x' });
    const calls: string[][] = [];
    const watcher = createWatcher({
      cwd: path.join(root, 'packages/api'),
      paths: ['../*/src/**/*.js'],
      debounceMs: 100,
      onChange: (files) => calls.push(files),
    });
    open.push(watcher);
    await watcher.ready;
    write('packages/api/test/t.js');
    write('packages/api/app.js');
    await until(calls, 'src/a.js', () => write('packages/api/src/a.js'));
    await until(calls, 'src/deep/c.js', () => write('packages/api/src/deep/c.js'));
    await until(calls, '../web/src/b.js', () => write('packages/web/src/b.js'));
    expect(calls.flat().sort()).toEqual(['../web/src/b.js', 'src/a.js', 'src/deep/c.js']);
  });

  it("ignores the cwd's own files that a watchIgnore or '!' entry through '..' names (../api/gen/**)", async () => {
    project({ 'packages/api/app.js': 'x', 'packages/web/index.js': 'x' });
    const calls: string[][] = [];
    const errors: Error[] = [];
    const watcher = createWatcher({
      cwd: path.join(root, 'packages/api'),
      paths: ['..', '!../*/tmp/**'],
      ignored: ['../api/gen/**'],
      debounceMs: 100,
      onChange: (files) => calls.push(files),
      onError: (error) => errors.push(error),
    });
    open.push(watcher);
    await watcher.ready;
    write('packages/api/gen/a.js');
    write('packages/api/tmp/b.js');
    write('packages/web/tmp/c.js');
    await until(calls, 'app.js', () => write('packages/api/app.js'));
    write('packages/api/gen/deep/d.js'); // a folder made after the start
    await until(calls, '../web/gen/e.js', () => write('packages/web/gen/e.js'));
    expect(calls.flat().sort()).toEqual(['../web/gen/e.js', 'app.js']);
    expect(errors).toEqual([]);
  });

  it('reports removed files, and files under a folder created after the start', async () => {
    project({ 'keep.txt': 'x' });
    const { calls } = await watching({ paths: ['keep.txt', 'later/**/*.json'] });
    await until(calls, 'keep.txt', () => unlinkSync(path.join(root, 'keep.txt')));
    await until(calls, 'later/a/b.json');
  });

  it('keeps watching a glob base that is deleted and made again (a branch switch)', async () => {
    project({ 'src/a.ts': 'x', 'other/x.ts': 'x' });
    const { calls } = await watching({ paths: ['src/**/*.ts'] });
    await until(calls, 'src/a.ts', () => rmSync(path.join(root, 'src'), { recursive: true }));
    write('other/y.ts');
    await until(calls, 'src/b.ts');
    expect(calls.flat().sort()).toEqual(['src/a.ts', 'src/b.ts']);
  });

  it('keeps watching a single file that editors replace by renaming a temporary file over it', async () => {
    project({ 'supervisor.config.ts': 'v0' });
    const { calls } = await watching({ paths: ['supervisor.config.ts'] });
    const replace = (content: string) => () => {
      write('.supervisor.config.ts.tmp', content);
      renameSync(path.join(root, '.supervisor.config.ts.tmp'), path.join(root, 'supervisor.config.ts'));
    };
    await until(calls, 'supervisor.config.ts', replace('v1'));
    const before = calls.length;
    replace('v2')();
    expect(await waitFor(() => calls.length > before)).toBe(true);
    const after = calls.length;
    write('supervisor.config.ts', 'v3');
    expect(await waitFor(() => calls.length > after)).toBe(true);
    expect(calls.flat().every((f) => f === 'supervisor.config.ts')).toBe(true);
  });

  it('does not follow a link to a folder below what is watched: a loop, or a folder elsewhere', async () => {
    project({ 'src/a.js': 'x', 'elsewhere/deep/x.js': 'x', 'elsewhere/conf.json': '{}' });
    symlinkSync('..', path.join(root, 'src/loop'));
    symlinkSync('../elsewhere', path.join(root, 'src/elsewhere'));
    symlinkSync('../elsewhere/conf.json', path.join(root, 'src/conf.json'));
    const { calls, errors } = await watching({ paths: ['src'] });
    write('elsewhere/deep/x.js');
    write('elsewhere/deep/new.js');
    // a link to a file is followed: an edit of its target is a change of the link
    await until(calls, 'src/conf.json', () => write('elsewhere/conf.json'));
    await until(calls, 'src/b.js');
    // a link made later is not followed either
    symlinkSync('../elsewhere/deep', path.join(root, 'src/later'));
    write('elsewhere/deep/x.js');
    await until(calls, 'src/c.js');
    expect(calls.flat().sort()).toEqual(['src/b.js', 'src/c.js', 'src/conf.json']);
    expect(errors).toEqual([]); // the loop is not walked to ELOOP
  });

  it('follows a link that is named in watch, or that is the cwd itself', async () => {
    project({ 'elsewhere/deep/x.js': 'x', 'real/a.js': 'x', 'src/a.js': 'x' });
    symlinkSync('elsewhere', path.join(root, 'linked'));
    symlinkSync('../elsewhere', path.join(root, 'src/shared'));
    const named = await watching({ paths: ['linked', 'src', 'src/shared'] });
    await until(named.calls, 'linked/deep/y.js', () => write('elsewhere/deep/y.js'));
    expect(await waitFor(() => named.calls.flat().includes('src/shared/deep/y.js'), 10_000)).toBe(true);
    const linkedCwd = path.join(root, 'cwd-link');
    symlinkSync('real', linkedCwd);
    const errors: Error[] = [];
    const calls: string[][] = [];
    const whole = createWatcher({
      cwd: linkedCwd,
      paths: true,
      debounceMs: 100,
      onChange: (files) => calls.push(files),
      onError: (error) => errors.push(error),
    });
    open.push(whole);
    await whole.ready;
    await until(calls, 'b.js', () => write('real/b.js'));
    expect(calls.flat()).toEqual(['b.js']);
    expect([...named.errors, ...errors]).toEqual([]);
  });

  it('follows a link that a wildcard of a watch glob names (npm link, pnpm), but not a loop or a ** match', async () => {
    project({
      'other-repo/lib/index.js': 'x',
      'other/src/a.ts': 'x',
      'node_modules/@my/real/lib/a.js': 'x',
      'libs/real/src/a.ts': 'x',
      'src/a.ts': 'x',
      'elsewhere/x.ts': 'x',
    });
    symlinkSync('../../other-repo', path.join(root, 'node_modules/@my/linked'));
    symlinkSync('../other', path.join(root, 'libs/linked'));
    symlinkSync('..', path.join(root, 'libs/loop')); // libs/*/src/** through it: libs/loop/libs/loop/...
    symlinkSync('../elsewhere', path.join(root, 'src/share')); // `**` names no folder in particular
    const { calls, errors } = await watching({
      paths: ['node_modules/@my/*/lib/**', 'libs/*/src/**', 'src/**/*.ts'],
    });
    await until(calls, 'node_modules/@my/linked/lib/index.js', () => write('other-repo/lib/index.js'));
    await until(calls, 'libs/linked/src/b.ts', () => write('other/src/b.ts'));
    write('elsewhere/x.ts');
    write('libs/real/src/a.ts'); // through the loop it would be libs/loop/libs/real/src/a.ts too
    await until(calls, 'src/last.ts');
    expect(calls.flat().filter((f) => f.includes('loop') || f.includes('share'))).toEqual([]);
    expect(calls.flat()).toContain('libs/real/src/a.ts');
    expect(errors).toEqual([]);
  });

  it('names each link it does not follow, once: a folder elsewhere, a loop, links that point at each other', async () => {
    project({
      'src/a.js': 'x',
      'elsewhere/x.js': 'x',
      'elsewhere/conf.json': '{}',
      'libs/real/src/a.ts': 'x',
    });
    symlinkSync('../elsewhere', path.join(root, 'src/elsewhere'));
    symlinkSync('..', path.join(root, 'src/loop'));
    symlinkSync('pong', path.join(root, 'src/ping'));
    symlinkSync('ping', path.join(root, 'src/pong'));
    symlinkSync('../elsewhere/conf.json', path.join(root, 'src/conf.json')); // a file: followed
    symlinkSync('user@host.4242:1700000000', path.join(root, 'src/.#a.js')); // dangling: nothing to follow
    // named by the wildcard of libs/*/src/**, yet loops
    symlinkSync('..', path.join(root, 'libs/up'));
    symlinkSync('b', path.join(root, 'libs/a'));
    symlinkSync('a', path.join(root, 'libs/b'));
    const { calls, errors, skipped } = await watching({ paths: ['src', 'libs/*/src/**'] });
    // chokidar reads a folder again after each change in it, and asks about its links again
    await until(calls, 'src/b.js');
    await until(calls, 'src/c.js');
    await until(calls, 'libs/other/src/a.ts');
    symlinkSync('../elsewhere', path.join(root, 'src/later')); // one made later is named too
    expect(await waitFor(() => skipped.some((s) => s.link === 'src/later'))).toBe(true);
    await until(calls, 'src/d.js');
    const byLink = [...skipped].sort((a, b) => a.link.localeCompare(b.link));
    expect(byLink).toEqual([
      { link: 'libs/a', target: 'b', reason: 'eloop' },
      { link: 'libs/b', target: 'a', reason: 'eloop' },
      { link: 'libs/up', target: '..', reason: 'leads-back' },
      { link: 'src/elsewhere', target: '../elsewhere', reason: 'not-named' },
      { link: 'src/later', target: '../elsewhere', reason: 'not-named' },
      { link: 'src/loop', target: '..', reason: 'leads-back' },
      { link: 'src/ping', target: 'pong', reason: 'eloop' },
      { link: 'src/pong', target: 'ping', reason: 'eloop' },
    ]);
    expect(calls.flat().filter((f) => /loop|ping|pong|elsewhere|later|libs\/(a|b|up)\//.test(f))).toEqual([]);
    expect(errors).toEqual([]);
  });

  it(`names the first ${LINKS_TOLD} links it does not follow, and counts the others in one call`, async () => {
    project({ 'elsewhere/x.js': 'x', 'src/a.js': 'x' });
    const links = (from: number, to: number) => {
      for (let i = from; i < to; i++) symlinkSync('../elsewhere', path.join(root, `src/link${i}`));
    };
    links(0, LINKS_TOLD + 5);
    const many = await watching({ paths: ['src'] });
    // counted when the first scan is done: start() logs it before it resolves
    expect({ named: many.skipped.length, untold: many.untold }).toEqual({ named: LINKS_TOLD, untold: [5] });
    links(LINKS_TOLD + 5, LINKS_TOLD + 7); // later ones: nothing more
    await until(many.calls, 'src/b.js');
    expect(many.untold).toEqual([5]);
    await many.watcher.close();
    rmSync(root, { recursive: true, force: true });

    project({ 'elsewhere/x.js': 'x', 'src/a.js': 'x' });
    links(0, LINKS_TOLD);
    const few = await watching({ paths: ['src'] });
    expect({ named: few.skipped.length, untold: few.untold }).toEqual({ named: LINKS_TOLD, untold: [] });
    // the first one past the cap, when it comes after the scan, is counted at once
    links(LINKS_TOLD, LINKS_TOLD + 1);
    expect(await waitFor(() => few.untold.length > 0)).toBe(true);
    links(LINKS_TOLD + 1, LINKS_TOLD + 3);
    await until(few.calls, 'src/b.js');
    expect({ named: few.skipped.length, untold: few.untold }).toEqual({ named: LINKS_TOLD, untold: [1] });
    expect([...many.errors, ...few.errors]).toEqual([]);
  });

  it('watches only the folders and files a glob can want: not the whole of a linked repo', async () => {
    // each file and folder chokidar watches is one fs.watch handle (one of the system's inotify watches)
    const watches = () => process.getActiveResourcesInfo().filter((r) => r === 'FSEventWrap').length;
    const files: Record<string, string> = {
      'other-repo/lib/index.js': 'x',
      'node_modules/@my/real/lib/a.js': 'x',
      'src/a.ts': 'x',
    };
    for (let i = 0; i < 100; i++) {
      files[`other-repo/test/t${i}.js`] = 'x';
      files[`other-repo/docs/d${i}.md`] = 'x';
      files[`node_modules/@my/real/test/t${i}.js`] = 'x';
      files[`src/gen${i}.js`] = 'x';
    }
    project(files);
    symlinkSync('../../other-repo', path.join(root, 'node_modules/@my/linked'));
    const before = watches();
    const { calls, errors } = await watching({ paths: ['node_modules/@my/*/lib/**', 'src/**/*.ts'] });
    // the roots' parents, node_modules, @my, both packages, their lib/ and its file, src/ and a.ts: not 400
    expect(watches() - before).toBeLessThan(30);
    await until(calls, 'node_modules/@my/linked/lib/index.js', () => write('other-repo/lib/index.js'));
    write('other-repo/test/t1.js');
    write('src/gen1.js');
    await until(calls, 'node_modules/@my/linked/lib/new/b.js', () => write('other-repo/lib/new/b.js'));
    await until(calls, 'src/deep/b.ts');
    expect(calls.flat().sort()).toEqual([
      'node_modules/@my/linked/lib/index.js',
      'node_modules/@my/linked/lib/new/b.js',
      'src/deep/b.ts',
    ]);
    expect(errors).toEqual([]);
  });

  it('calls nothing after close, even for a burst still waiting for its debounce', async () => {
    project();
    const first = await watching({ paths: true, debounceMs: 200 });
    write('one.txt');
    await first.watcher.close();
    await first.watcher.close(); // idempotent
    const witness = await watching({ paths: true });
    await until(witness.calls, 'two.txt');
    expect(first.calls).toEqual([]);
  });
});
