// Hashing a folder whose files come and go (a build tool's temporary files, an editor's swap files): what
// vanished while the folder was listed is skipped, and a file gone before it was hashed is a
// FolderChangedError (the image is then made again from a new listing), never a crash of the start.
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  contentHash,
  HashCache,
  statKey,
  walkFolder,
  withoutFiles,
} from '../../src/runtime/container/content-hash.js';
import { parseIgnore } from '../../src/runtime/container/ignore.js';
import { FolderChangedError } from '../../src/runtime/container/tar.js';

/** Runs before the real call, with its path: a test removes a file there, between listing and reading. */
const before = vi.hoisted(() => ({ lstat: (_: string) => {}, readdir: (_: string) => {} }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    lstat: (file: string, ...rest: []) => {
      before.lstat(String(file));
      return real.lstat(file, ...rest);
    },
    readdir: (file: string, ...rest: []) => {
      before.readdir(String(file));
      return real.readdir(file, ...rest);
    },
  };
});

let root = '';
afterEach(() => {
  before.lstat = () => {};
  before.readdir = () => {};
  rmSync(root, { recursive: true, force: true });
});

function folder(files: Record<string, string>): string {
  root = mkdtempSync(path.join(os.tmpdir(), 'msup-hash-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), content);
  }
  return root;
}

const paths = (entries: { entry: { path: string } }[]) =>
  entries.map((e) => path.relative(root, e.entry.path)).sort();

describe('walkFolder while files come and go', () => {
  it('skips a file removed between the listing and its lstat', async () => {
    const dir = folder({ 'main.js': '', 'build.tmp': 'x' });
    before.lstat = (file) => {
      if (file.endsWith('build.tmp')) rmSync(file, { force: true });
    };
    expect(paths(await walkFolder(dir, parseIgnore('')))).toEqual(['', 'main.js']);
  });

  it('skips a folder removed before it was listed', async () => {
    const dir = folder({ 'main.js': '', 'tmp/a.txt': 'x' });
    before.readdir = (file) => {
      if (file.endsWith(`${path.sep}tmp`)) rmSync(file, { recursive: true, force: true });
    };
    expect(paths(await walkFolder(dir, parseIgnore('')))).toEqual(['', 'main.js', 'tmp']);
  });

  it('a listed file gone before it is hashed: FolderChangedError naming it', async () => {
    const dir = folder({ 'main.js': 'a', 'gone.txt': 'b' });
    const entries = await walkFolder(dir, parseIgnore(''));
    unlinkSync(path.join(dir, 'gone.txt'));
    const cache = await HashCache.open(path.join(dir, 'no-cache.json'));
    const error = await contentHash(entries, cache, '').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FolderChangedError);
    expect((error as FolderChangedError).file).toBe(path.join(dir, 'gone.txt'));
    const stat = await statKey(path.join(dir, 'gone.txt')).catch((e: unknown) => e);
    expect(stat).toBeInstanceOf(FolderChangedError);
  });
});

describe('withoutFiles (what msup export wrote stays out of the image)', () => {
  const left = async (dir: string, files: string[]) =>
    paths(
      withoutFiles(await walkFolder(dir, parseIgnore('')), new Set(files.map((f) => path.join(dir, f))), dir),
    );

  it('leaves out a folder that held only those files, at any depth', async () => {
    const dir = folder({ 'main.js': '', 'out/k8s.yaml': '', 'deploy/k8s/k8s.yaml': '' });
    expect(await left(dir, ['out/k8s.yaml', 'deploy/k8s/k8s.yaml'])).toEqual(['', 'main.js']);
  });

  it('keeps a folder with anything else in it, and an empty folder', async () => {
    const dir = folder({
      'main.js': '',
      'out/index.js': '',
      'out/k8s.yaml': '',
      'deploy/compose.yaml': '',
      'compose.yaml': '',
    });
    mkdirSync(path.join(dir, 'deploy', 'keep'));
    mkdirSync(path.join(dir, 'empty'));
    expect(await left(dir, ['out/k8s.yaml', 'deploy/compose.yaml', 'compose.yaml'])).toEqual([
      '',
      'deploy',
      'deploy/keep',
      'empty',
      'main.js',
      'out',
      'out/index.js',
    ]);
  });

  it('keeps the service folder, even when it holds nothing else', async () => {
    const dir = folder({ 'compose.yaml': '' });
    expect(await left(dir, ['compose.yaml'])).toEqual(['']);
  });

  it('the hash after an export into a new folder is the hash before it', async () => {
    const dir = folder({ 'main.js': 'x' });
    const cache = await HashCache.open(path.join(dir, 'no-cache.json'));
    const hash = async () =>
      contentHash(
        await walkFolder(dir, parseIgnore('')).then((e) =>
          withoutFiles(e, new Set([path.join(dir, 'out/k8s.yaml')]), dir),
        ),
        cache,
        '',
      );
    const before = await hash();
    mkdirSync(path.join(dir, 'out'));
    writeFileSync(path.join(dir, 'out/k8s.yaml'), 'image: msup-web:0123456789ab\n');
    expect(await hash()).toBe(before);
  });
});
