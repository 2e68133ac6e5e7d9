// What goes into an image and its content hash: a service folder walked with its ignore rules, and every
// file hashed by content, streamed, with a (path, size, mtime, ctime, inode) cache so unchanged files are not read again.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { IgnoreRules } from './ignore.js';
import { FolderChangedError, type TarEntry } from './tar.js';

/** A file's identity on disk: if all of it is unchanged, so is its content. */
interface StatKey {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

/** An entry of the image, with what identifies a host file's content. */
export interface ImageEntry {
  entry: TarEntry;
  stat?: StatKey;
}

type CacheRecord = [size: number, mtimeMs: number, ctimeMs: number, ino: number, sha256: string];

/** Content hashes by host path, kept in a JSON file between runs (one file per service). */
export class HashCache {
  readonly #file: string;
  readonly #old: Map<string, CacheRecord>;
  readonly #now = new Map<string, CacheRecord>();
  hits = 0;
  misses = 0;
  bytesRead = 0;

  private constructor(file: string, old: Map<string, CacheRecord>) {
    this.#file = file;
    this.#old = old;
  }

  static async open(file: string): Promise<HashCache> {
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as {
        v: number;
        files: Record<string, CacheRecord>;
      };
      if (parsed.v === 1) return new HashCache(file, new Map(Object.entries(parsed.files)));
    } catch {}
    return new HashCache(file, new Map());
  }

  async hash(source: string, stat: StatKey): Promise<string> {
    const old = this.#old.get(source) ?? this.#now.get(source);
    if (
      old &&
      old[0] === stat.size &&
      old[1] === stat.mtimeMs &&
      old[2] === stat.ctimeMs &&
      old[3] === stat.ino
    ) {
      this.hits++;
      this.#now.set(source, old);
      return old[4];
    }
    this.misses++;
    const digest = await hashFile(source);
    this.bytesRead += stat.size;
    // A file written in the last two seconds may change again within the same timestamp: not trusted.
    if (Date.now() - Math.max(stat.mtimeMs, stat.ctimeMs) > 2000)
      this.#now.set(source, [stat.size, stat.mtimeMs, stat.ctimeMs, stat.ino, digest]);
    return digest;
  }

  /** Writes the records used this time (others are dropped), atomically. */
  async save(): Promise<void> {
    await mkdir(path.dirname(this.#file), { recursive: true });
    const temp = `${this.#file}.${process.pid}.tmp`;
    await writeFile(temp, JSON.stringify({ v: 1, files: Object.fromEntries(this.#now) }));
    await rename(temp, this.#file);
  }
}

const SMALL_FILE = 256 * 1024;

const isGone = (error: unknown) => {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

/** `error` as FolderChangedError when `file` went away (removed or renamed), so the folder is listed again. */
function goneAs(file: string, error: unknown): unknown {
  return isGone(error) ? new FolderChangedError(file, 'removed') : error;
}

async function hashFile(source: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    const info = await lstat(source);
    if (info.size <= SMALL_FILE) hash.update(await readFile(source));
    else for await (const chunk of createReadStream(source)) hash.update(chunk as Buffer);
  } catch (error) {
    throw goneAs(source, error);
  }
  return hash.digest('hex');
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * The folder `dir` as image entries at the same absolute paths: files, folders and symbolic links (kept
 * as links), without what `rules` leave out. Other kinds (sockets, fifos) are skipped.
 */
export async function walkFolder(dir: string, rules: IgnoreRules): Promise<ImageEntry[]> {
  const found: ImageEntry[] = [];
  const visit = async (relative: string): Promise<void> => {
    const here = relative === '' ? dir : path.join(dir, relative);
    // What went away while the folder was listed (a build's temporary file) is not in the image; the
    // service folder itself must be there.
    const names = await readdir(here).catch((error: unknown) => {
      if (relative !== '' && isGone(error)) return [];
      throw error;
    });
    await Promise.all(
      names.map(async (name) => {
        const rel = relative === '' ? name : `${relative}/${name}`;
        const full = path.join(dir, rel);
        const info = await lstat(full).catch((error: unknown) => {
          if (isGone(error)) return null;
          throw error;
        });
        if (!info) return;
        const ignored = rules.ignored(rel);
        if (ignored && (!info.isDirectory() || rules.prunable)) return;
        const mtime = info.mtimeMs;
        if (info.isDirectory()) {
          if (!ignored) found.push({ entry: { type: 'dir', path: full, mode: info.mode, mtime } });
          await visit(rel);
        } else if (info.isFile()) {
          const stat = { size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, ino: info.ino };
          found.push({
            entry: {
              type: 'file',
              path: full,
              mode: info.mode,
              mtime,
              size: info.size,
              source: full,
              ctimeMs: info.ctimeMs,
            },
            stat,
          });
        } else if (info.isSymbolicLink()) {
          const target = await readlink(full).catch((error: unknown) => {
            if (isGone(error)) return null;
            throw error;
          });
          if (target !== null) found.push({ entry: { type: 'symlink', path: full, target, mtime } });
        }
      }),
    );
  };
  const top = await lstat(dir);
  found.push({ entry: { type: 'dir', path: dir, mode: top.mode, mtime: top.mtimeMs } });
  await visit('');
  return found;
}

/**
 * `entries` without `files`, and without every folder they leave empty, at any depth: a folder made only to
 * hold them (`msup export --out out`) is not content either, or the first run after it would see a new
 * folder. `top` (the service folder) stays, and so does a folder that was empty already (the user's own).
 */
export function withoutFiles(
  entries: readonly ImageEntry[],
  files: ReadonlySet<string>,
  top: string,
): ImageEntry[] {
  const children = new Map<string, string[]>();
  for (const { entry } of entries) {
    if (entry.path === top) continue;
    const parent = path.dirname(entry.path);
    const list = children.get(parent);
    if (list) list.push(entry.path);
    else children.set(parent, [entry.path]);
  }
  const memo = new Map<string, boolean>();
  const dropped = (file: string): boolean => {
    let result = memo.get(file);
    if (result === undefined) {
      const below = file === top ? undefined : children.get(file);
      result = files.has(file) || below?.every(dropped) === true;
      memo.set(file, result);
    }
    return result;
  };
  return entries.filter((e) => !dropped(e.entry.path));
}

/** Adds the folders above every entry (0755) that are not entries themselves, and sorts by path. */
export function withParents(entries: readonly ImageEntry[]): ImageEntry[] {
  const byPath = new Map<string, ImageEntry>();
  for (const item of entries) byPath.set(item.entry.path, item);
  for (const item of entries) {
    for (let dir = path.dirname(item.entry.path); dir !== '/' && !byPath.has(dir); dir = path.dirname(dir))
      byPath.set(dir, { entry: { type: 'dir', path: dir, mode: 0o755, mtime: 0 } });
  }
  return [...byPath.values()].sort((a, b) =>
    a.entry.path < b.entry.path ? -1 : a.entry.path > b.entry.path ? 1 : 0,
  );
}

/**
 * The content hash of an image: every entry's kind, path, permissions and content (or link target), in
 * path order, plus `extra` (what else shapes the image: its settings, a Containerfile's name).
 */
export async function contentHash(
  entries: readonly ImageEntry[],
  cache: HashCache,
  extra: string,
): Promise<string> {
  const contents = new Map<ImageEntry, string>();
  await eachLimited(
    entries.filter((e) => e.entry.type === 'file'),
    8,
    async (item) => {
      const entry = item.entry as Extract<TarEntry, { type: 'file' }>;
      contents.set(
        item,
        Buffer.isBuffer(entry.source)
          ? createHash('sha256').update(entry.source).digest('hex')
          : await cache.hash(entry.source, item.stat ?? (await statKey(entry.source))),
      );
    },
  );
  const hash = createHash('sha256').update(`${extra}\n`);
  for (const item of entries) {
    const e = item.entry;
    const mode = e.type === 'symlink' ? '' : (e.mode & 0o7777).toString(8);
    const content = e.type === 'file' ? contents.get(item) : e.type === 'symlink' ? e.target : '';
    hash.update(`${e.type}\0${e.path}\0${mode}\0${content}\n`);
  }
  return hash.digest('hex');
}

export async function statKey(file: string): Promise<StatKey> {
  const info = await lstat(file).catch((error: unknown) => {
    throw goneAs(file, error);
  });
  return { size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, ino: info.ino };
}
