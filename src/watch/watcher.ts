// Watches a service's files with chokidar (the one file that imports it, and only once a service watches)
// and the config file with fs.watch on its folder; reports each burst of changes once.
import {
  existsSync,
  type FSWatcher,
  readlinkSync,
  realpathSync,
  type Stats,
  statSync,
  watch as watchFolder,
} from 'node:fs';
import path from 'node:path';
import { followLinks } from '../links.js';
import { compileWatchPatterns, msupFileTest } from './patterns.js';

export interface WatcherOptions {
  /** The folder that relative paths, globs and reported files are relative to (the service's cwd). */
  cwd: string;
  /** `true` for all of `cwd`; else files, folders and globs such as `src/**\/*.ts` (a leading `!` ignores). */
  paths: readonly string[] | true;
  /** Extra ignores on top of DEFAULT_IGNORED: names matched against any path segment, or globs relative to `cwd`. */
  ignored?: readonly string[];
  /**
   * Absolute files of msup's own, never a change unless `paths` names one as it is: the config file,
   * whose edits a config reload applies (a service that restarted for them too would restart twice, or
   * for an edit that concerns it not at all). A symbolic link counts with the file it leads to
   * (`supervisor.config.ts -> conf/base.ts`: an edit of conf/base.ts is an edit of the config).
   * ServiceWatcher.setMsupFiles swaps them.
   */
  msupFiles?: readonly string[];
  /** A burst of changes with gaps shorter than this becomes one `onChange` (default 200 ms). */
  debounceMs?: number;
  /** A burst that never pauses is still reported after this long (default 10 × debounceMs, at least 1 s). */
  maxWaitMs?: number;
  /** The distinct files of one burst (added, changed or removed), relative to `cwd`, `/`-separated, sorted. */
  onChange(files: string[]): void;
  /** A watcher error (e.g. the OS limit on watches), or an exception thrown by `onChange`. */
  onError?(error: Error): void;
  /**
   * A symbolic link below what is watched that the watcher does not follow, so that a change under it is
   * no change: once per link, when it is first met (the first LINKS_TOLD links of a watcher). A link to a
   * file is followed; a dangling one (Emacs' lock `.#a.js`) has nothing to follow and is not told.
   */
  onLinkSkipped?(skipped: SkippedLink): void;
  /**
   * Once per watcher, when more links than LINKS_TOLD are not followed: the count of the others, those
   * met in the first scan, when it is done; or 1, at the first one met later, when the scan met none.
   */
  onLinksUntold?(count: number): void;
}

/** Why a link is not followed; LINK_SKIP_REASONS says it in words. */
export type LinkSkipReason = 'not-named' | 'leads-back' | 'eloop';

export const LINK_SKIP_REASONS: Readonly<Record<LinkSkipReason, string>> = {
  'not-named': 'a link to a folder below what is watched is followed only when watch names it',
  'leads-back': 'it leads back to a folder it is in, or to a watched folder (a loop)',
  eloop: 'it cannot be resolved: links that point at each other (ELOOP)',
};

export interface SkippedLink {
  /** The link, relative to `cwd`, `/`-separated. */
  link: string;
  /** What the link says it points to (its readlink), or '' when it cannot be read. */
  target: string;
  reason: LinkSkipReason;
}

/** Links not followed that one watcher tells (onLinkSkipped); the ones after it are counted (onLinksUntold). */
export const LINKS_TOLD = 20;

export interface Watcher {
  /** Resolves once the initial scan is done (changes before it are not reported), or on close. */
  readonly ready: Promise<void>;
  /** Stops watching and drops a pending burst; `onChange` is not called after it. Idempotent. */
  close(): Promise<void>;
}

/** A watcher of a service's files (createWatcher). */
export interface ServiceWatcher extends Watcher {
  /**
   * Takes these for msup's own files from now on (a config file that is a link made to lead elsewhere),
   * watching on: a change seen and not reported yet, or made meanwhile, is reported as it would have been.
   */
  setMsupFiles(files: readonly string[]): void;
}

export const WATCH_DEFAULTS = { debounceMs: 200 } as const;

/** The path itself when it exists, else its nearest existing parent (chokidar misses paths made later). */
function existingAncestor(target: string): string {
  let current = target;
  while (!existsSync(current)) {
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  return current;
}

/**
 * What a symbolic link leads to: a regular file, a folder, a loop of links (ELOOP), or nothing to follow
 * (dangling, unreadable, a socket).
 */
function linkTarget(link: string): 'file' | 'folder' | 'eloop' | 'none' {
  try {
    const stats = statSync(link, { throwIfNoEntry: false });
    if (stats?.isFile()) return 'file';
    return stats?.isDirectory() ? 'folder' : 'none';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ELOOP' ? 'eloop' : 'none';
  }
}

/**
 * Whether following a link to a folder would lead back into a folder already on the way: its real target
 * is the real path of one of the link's own ancestors, or of a root, or above one (`libs/loop -> ..`).
 * A link that cannot be resolved (dangling, ELOOP) counts too: there is nothing to follow.
 */
function leadsBack(link: string, roots: readonly string[]): boolean {
  let target: string;
  try {
    target = realpathSync(link);
  } catch {
    return true;
  }
  const inside = (folder: string) => {
    try {
      const real = realpathSync(folder);
      return real === target || real.startsWith(target.endsWith(path.sep) ? target : target + path.sep);
    } catch {
      return false; // a root that does not exist (yet)
    }
  };
  for (let folder = path.dirname(link); ; folder = path.dirname(folder)) {
    if (inside(folder)) return true;
    if (path.dirname(folder) === folder) break;
  }
  return roots.some(inside);
}

/**
 * A file's absolute path and, when a symbolic link leads to it (the file is one, as stow makes them, or a
 * folder on the way is), its real path: an edit of the file is seen at the latter.
 */
export function fileNames(file: string): string[] {
  const resolved = path.resolve(file);
  try {
    const real = realpathSync(resolved);
    return real === resolved ? [resolved] : [resolved, real];
  } catch {
    // not there (yet): a link to a file not made yet is followed by hand, so that its making is seen
    const target = danglingTarget(resolved);
    return target === undefined || target === resolved ? [resolved] : [resolved, target];
  }
}

/**
 * Where a link to a file that does not exist (yet) leads: its target, resolved against the link's real
 * folder, through a chain of links (followLinks), the part that exists by its real path. Undefined when
 * `file` is no link.
 */
function danglingTarget(file: string): string | undefined {
  const { links, end } = followLinks(file);
  if (links.length === 0) return undefined;
  const there = existingAncestor(end);
  try {
    return path.join(realpathSync(there), path.relative(there, end));
  } catch {
    return end;
  }
}

/**
 * Where a file's change shows: its folder, or, when that does not exist (yet), the nearest one that does,
 * where the first missing folder on the way appears; `name` is what changes there.
 */
export function watchedAt(file: string): { folder: string; name: string } {
  const folder = path.dirname(file);
  const there = existingAncestor(folder);
  if (there === folder) return { folder, name: path.basename(file) };
  return { folder: there, name: path.relative(there, file).split(path.sep)[0] as string };
}

const asError = (value: unknown) => (value instanceof Error ? value : new Error(String(value)));

/** Gathers changed files into bursts: one `onChange` per burst, after a pause or at most `maxWaitMs`. */
function bursts(options: Pick<WatcherOptions, 'debounceMs' | 'maxWaitMs' | 'onChange' | 'onError'>) {
  const debounceMs = Math.max(0, options.debounceMs ?? WATCH_DEFAULTS.debounceMs);
  const maxWaitMs = Math.max(debounceMs, options.maxWaitMs ?? Math.max(debounceMs * 10, 1000));
  const report = (error: unknown) => options.onError?.(asError(error));
  let closed = false;
  let pending = new Set<string>();
  let firstAt = 0;
  let timer: NodeJS.Timeout | undefined;

  const flush = () => {
    timer = undefined;
    if (closed || pending.size === 0) return;
    const files = [...pending].sort();
    pending = new Set();
    try {
      options.onChange(files);
    } catch (error) {
      report(error);
    }
  };

  const push = (file: string) => {
    if (closed) return;
    const now = Date.now();
    if (pending.size === 0) firstAt = now;
    pending.add(file);
    if (timer) clearTimeout(timer);
    timer = setTimeout(flush, Math.max(0, Math.min(debounceMs, firstAt + maxWaitMs - now)));
  };
  return {
    push,
    report,
    get closed() {
      return closed;
    },
    /** No more `onChange`: a pending burst is dropped. */
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      pending.clear();
    },
  };
}

export function createWatcher(options: WatcherOptions): ServiceWatcher {
  // msup's own files are watched as any other (each may become a service's file when a config link is made
  // to lead elsewhere: chokidar's choice of what to watch does not change after its scan), not reported
  const patterns = compileWatchPatterns(options.cwd, options.paths, options.ignored);
  const msupFiles = (files: readonly string[]) =>
    msupFileTest(options.cwd, options.paths, files.map(fileNames));
  let isMsupFile = msupFiles(options.msupFiles ?? []);
  const changes = bursts(options);
  // chokidar asks about a link each time it reads its folder (after every change there): told once
  const told = new Set<string>();
  // the links past LINKS_TOLD, until their count is told (then undefined)
  let untold: Set<string> | undefined = new Set();
  let scanned = false;
  const tellUntold = () => {
    if (!untold?.size || changes.closed) return;
    const count = untold.size;
    untold = undefined;
    try {
      options.onLinksUntold?.(count);
    } catch (error) {
      changes.report(error);
    }
  };
  const tell = (link: string, reason: () => LinkSkipReason) => {
    if (!options.onLinkSkipped || changes.closed || told.has(link)) return;
    if (told.size >= LINKS_TOLD) {
      untold?.add(link);
      if (scanned) tellUntold();
      return;
    }
    told.add(link);
    let target = '';
    try {
      target = readlinkSync(link);
    } catch {
      // gone meanwhile: still told, it was met
    }
    try {
      options.onLinkSkipped({ link: patterns.relative(link), target, reason: reason() });
    } catch (error) {
      changes.report(error);
    }
  };
  let closing: Promise<void> | undefined;
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  // the parent of each root too, so a root that is deleted and made again (a branch switch) is seen again
  const roots = [...new Set(patterns.roots.map((root) => existingAncestor(path.dirname(root))))];
  const opened = import('chokidar').then(({ watch }) => {
    if (changes.closed) return undefined;
    const watcher = watch(roots, {
      ignoreInitial: true,
      persistent: true,
      // chokidar follows symbolic links (a root or a folder on the way to one may well be a link), but a
      // link to a folder found below what is watched is skipped: followed, it pulls in whatever it points
      // to (`src/share -> /usr/share`: tens of thousands of watches, restarts for files nobody changed)
      // and a link to an ancestor (`src/loop -> ..`) is walked 40 levels deep, to ELOOP, for every file
      // there. A link to a file is still followed: one watch, and an edit of its target is a change.
      // A link that a glob's wildcard names (`node_modules/@my/*\/lib/**` and `@my/linked -> ../../repo`,
      // as npm link and pnpm make) is what the user asked for, and followed unless it leads back up.
      // chokidar passes a directory's entries with lstat's stats, the one place a link shows as a link.
      // A link to a folder that is not followed is told once (onLinkSkipped): else a change under it
      // restarts nothing, without a word. A loop is noticed at the link that closes it (leadsBack), or
      // at the first stat (ELOOP), never walked.
      // What the watch list cannot want is not watched either: chokidar takes one of the system's watches
      // (inotify's max_user_watches) per file and per folder it watches, and a glob's static part may
      // hold far more than the glob wants (a linked repo's test/ and docs/ for `node_modules/@my/*\/lib/**`,
      // the .js files next to the .ts of `src/**\/*.ts`). A file that is not wanted is never a change.
      ignored: (file: string, stats?: Stats) => {
        const absolute = path.resolve(file);
        if (patterns.isIgnored(absolute, stats?.isFile() === true)) return true;
        if (stats?.isFile()) return !patterns.isWanted(absolute);
        if (stats?.isDirectory()) return !patterns.mayHoldWanted(absolute);
        if (stats?.isSymbolicLink() !== true || !patterns.isBelowRoots(absolute)) return false;
        // a link where nothing is wanted, as a folder or as a file, is skipped without a word
        if (!patterns.mayHoldWanted(absolute) && !patterns.isWanted(absolute)) return true;
        const target = linkTarget(absolute);
        if (target === 'file') return false;
        if (target === 'none') return true;
        if (target === 'eloop') {
          tell(absolute, () => 'eloop');
          return true;
        }
        if (patterns.isNamedByGlob(absolute)) {
          if (!leadsBack(absolute, patterns.roots)) return false;
          tell(absolute, () => 'leads-back');
          return true;
        }
        tell(absolute, () => (leadsBack(absolute, patterns.roots) ? 'leads-back' : 'not-named'));
        return true;
      },
    });
    watcher.once('ready', () => {
      scanned = true;
      tellUntold();
      markReady();
    });
    watcher.on('error', (error) => {
      if (!changes.closed) changes.report(error);
    });
    watcher.on('all', (event, file) => {
      if (event !== 'add' && event !== 'change' && event !== 'unlink') return;
      const absolute = path.resolve(file);
      if (!isMsupFile(absolute) && patterns.isWanted(absolute)) changes.push(patterns.relative(absolute));
    });
    return watcher;
  });
  opened.catch((error) => {
    changes.report(error);
    markReady();
  });
  return {
    ready,
    setMsupFiles(files) {
      isMsupFile = msupFiles(files);
    },
    close() {
      if (!closing) {
        changes.close();
        markReady();
        closing = opened
          .then((watcher) => {
            const closed = watcher?.close();
            // chokidar's close() removes every listener, ours for 'error' too, yet a stat or read it
            // started before (a deep scan, a symlink loop) can still fail and emit 'error' after it:
            // with no listener that is an uncaught exception, the end of msup. Such an error is moot now.
            watcher?.on('error', () => {});
            return closed;
          })
          .catch(() => {});
      }
      return closing;
    },
  };
}

/**
 * Watches one file (the config) with fs.watch on its folder: an editor that saves by writing a new file
 * and renaming it over the old one is seen, and chokidar is not loaded for it. A file that is a symbolic
 * link is watched in the folder of the file it leads to as well: an edit there (of conf/base.ts, for
 * `supervisor.config.ts -> conf/base.ts`) changes nothing in the link's folder.
 */
export function watchFile(
  file: string,
  options: Pick<WatcherOptions, 'debounceMs' | 'maxWaitMs' | 'onChange' | 'onError'>,
): Watcher {
  const changes = bursts(options);
  const name = path.basename(file);
  // by the real folder: a link on the way to the file, not the file itself, is the same folder's entry
  const folders = new Map<string, { folder: string; names: Set<string> }>();
  for (const each of fileNames(file)) {
    const { folder, name: changed } = watchedAt(each);
    let real = folder;
    try {
      real = realpathSync(folder);
    } catch {
      // not there: watching it fails, and says so
    }
    const entry = folders.get(real) ?? { folder, names: new Set<string>() };
    entry.names.add(changed);
    folders.set(real, entry);
  }
  const watchers: FSWatcher[] = [];
  for (const { folder, names } of folders.values()) {
    try {
      const watcher = watchFolder(folder, { persistent: true }, (_event, changed) => {
        if (changed === null || names.has(changed.toString())) changes.push(name);
      });
      watcher.on('error', (error) => {
        if (!changes.closed) changes.report(error);
      });
      watchers.push(watcher);
    } catch (error) {
      changes.report(error);
    }
  }
  return {
    ready: Promise.resolve(),
    async close() {
      changes.close();
      for (const watcher of watchers) watcher.close();
    },
  };
}
