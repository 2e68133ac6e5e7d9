// Watch paths and globs → the directories to watch and two tests (ignored? wanted?), with picomatch. Pure.
import path from 'node:path';
import picomatch from 'picomatch';

/** Always ignored (on top of a service's `watchIgnore`): dependencies, VCS, build output, msup's state, logs, editor temp files. */
export const DEFAULT_IGNORED: readonly string[] = [
  'node_modules',
  '.git',
  'dist',
  'build',
  'coverage',
  '.msup',
  '*.log',
  'nohup.out',
  // vim's swap files and the backups `a.js~` of vim and Emacs: a folder of such a name goes too, as chokidar
  // itself skips any such path (its `atomic` filter)
  '*.swp',
  '*.swx',
  '*~',
  // IDEs' own folders
  '.idea',
  '.vscode',
  // caches and output of other tools
  '__pycache__',
  '*.pyc',
  '.venv',
  '.cache',
  '.next',
  '.nuxt',
  '.turbo',
];

/**
 * Always ignored files, never folders: the files editors write next to the one being edited. A folder of
 * such a name (`content/4913/`, `#notes#/`, `.#drafts/`) holds the user's files, and is watched.
 */
export const DEFAULT_IGNORED_FILES: readonly string[] = [
  // JetBrains' temporary copies
  '*___jb_tmp___',
  '*___jb_old___',
  // Emacs: the lock `.#a.js` (a dangling link to user@host.pid; the watcher does not follow it), and the
  // auto-save copy `#a.js#`, written every 300 keystrokes or 30 s of idleness
  '.#*',
  '#*#',
  // vim: the file it makes and deletes at once to learn whether it may create files in a folder
  '4913',
  // macOS' Finder
  '.DS_Store',
];

export interface WatchPatterns {
  /** Absolute directories or files to hand to the file watcher (the static bases of the globs). */
  roots: string[];
  /**
   * Whether the watcher can skip this absolute path (and, for a directory, all below it): it matches an
   * ignore, or it is neither inside a root nor on the way to one. `isFile` (known to be a file) adds
   * DEFAULT_IGNORED_FILES.
   */
  isIgnored(absolute: string, isFile?: boolean): boolean;
  /** Whether a change to this absolute file path should be reported. */
  isWanted(absolute: string): boolean;
  /**
   * Whether this absolute path lies below what is watched: inside a root, and neither a root itself nor on
   * the way to one. The watcher does not follow a symbolic link there unless a glob names it (isNamedByGlob).
   */
  isBelowRoots(absolute: string): boolean;
  /**
   * Whether a watch glob names this absolute path with a wildcard on the way to the files it wants: the
   * path matches the glob cut after one of its segments (`node_modules/@my/*` of `node_modules/@my/*\/lib/**`).
   * A cut that ends in `**` names nothing in particular, and nor does the whole glob (it names files).
   */
  isNamedByGlob(absolute: string): boolean;
  /**
   * Whether a file the watch list wants may lie in or below this absolute folder, which lies below the
   * roots: false lets the watcher skip it (`src/lib` for `src/*.ts`, `node_modules/@my/x/test` for
   * `node_modules/@my/*\/lib/**`). A root, a folder on the way to one, and a path off the roots are
   * judged by isIgnored, not here (true).
   */
  mayHoldWanted(absolute: string): boolean;
  /** The path as reported: relative to `cwd`, with `/` separators. */
  relative(absolute: string): string;
  /**
   * Whether the ignores (watchIgnore, `!` entries) take in every root, so that no file is ever wanted:
   * `'../**'` or `'../*'` from a package's folder takes in that folder too.
   */
  ignoresEverything: boolean;
}

/**
 * Whether a watch list names nothing to watch: empty (`[]`), or only ignores (`['!tmp/**']`). Such a
 * list watches nothing; msup warns of it.
 */
export function watchesNothing(paths: readonly string[] | true): boolean {
  return paths !== true && !paths.some((p) => p.trim() !== '' && !p.trim().startsWith('!'));
}

/** Whether a service's `watch` gives it a watcher: set, and naming something (not `[]`, nor only `!` entries). */
export function watchesSomething(watch: { readonly paths: readonly string[] | true } | null): boolean {
  return watch !== null && !watchesNothing(watch.paths);
}

/**
 * A service's `watch` settings given to no effect, as msup warns of them (at start and at each reload):
 * a list that names nothing to watch, or ignores that take in everything it names (`'../**'` in
 * watchIgnore, from packages/api watching `'..'`, takes in the service's own folder too). Undefined when
 * the service is not watched, or its watching can restart it.
 */
export function watchWarning(service: {
  name: string;
  cwd: string;
  watch: { paths: readonly string[] | true; ignored: readonly string[] } | null;
}): { setting: string; message: string } | undefined {
  if (!service.watch) return undefined;
  const { paths, ignored } = service.watch;
  const none = 'no change of its files restarts the service';
  if (watchesNothing(paths)) {
    const setting = `services.${service.name}.watch`;
    return {
      setting,
      message: `${setting} names nothing to watch (an empty list, or only ! entries): ${none}`,
    };
  }
  if (!compileWatchPatterns(service.cwd, paths, ignored).ignoresEverything) return undefined;
  const named = paths === true ? true : paths.filter((p) => !p.trim().startsWith('!'));
  const byWatchIgnore = compileWatchPatterns(service.cwd, named, ignored).ignoresEverything;
  const setting = `services.${service.name}.${byWatchIgnore ? 'watchIgnore' : 'watch'}`;
  const what = byWatchIgnore
    ? `${setting} ignores everything watch names`
    : `${setting}'s ! entries ignore everything it names`;
  return {
    setting,
    message: `${what} (as '..', '../**' or '../*' takes in the service's own folder): ${none}`,
  };
}

const toPosix = (p: string) => p.split(path.sep).join('/');
/** `./src/` → `src`: no leading `./`, no trailing `/` (a folder is a folder either way, as in .gitignore). */
const clean = (pattern: string) =>
  toPosix(pattern.trim())
    .replace(/^(\.\/)+/, '')
    .replace(/\/+$/, '');

/** An entry of `watch` or `watchIgnore` relative to `base`: an absolute one made relative, others cleaned. */
const relativeEntry = (base: string, entry: string) =>
  path.isAbsolute(entry) ? toPosix(path.relative(base, entry)) : clean(entry);

const isInside = (child: string, parent: string) =>
  child === parent || child.startsWith(parent.endsWith(path.sep) ? parent : parent + path.sep);

/** A test over a relative posix path: whether one of its segments matches one of `names` (no `/` in them). */
function nameMatcher(names: readonly string[]): (relative: string) => boolean {
  if (names.length === 0) return () => false;
  const match = picomatch([...names], { dot: true });
  return (relative) =>
    relative !== '' &&
    // `..` is a step up to a folder named in watch (watch: ['..']), never a name: `.*` must not match it.
    relative.split('/').some((part) => part !== '..' && match(part));
}

/**
 * A glob's `/`-separated segments, or undefined when a `/` sits inside braces, brackets or parentheses
 * (`src/{a,b/c}.ts`): such a glob cannot be cut segment by segment.
 */
function globSegments(glob: string): string[] | undefined {
  const segments: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '\\') i++;
    else if (c === '{' || c === '[' || c === '(') depth++;
    else if ((c === '}' || c === ']' || c === ')') && depth > 0) depth--;
    else if (c === '/') {
      if (depth > 0) return undefined;
      segments.push(glob.slice(start, i));
      start = i + 1;
    }
  }
  segments.push(glob.slice(start));
  return segments;
}

/**
 * For one glob, a test of a folder (relative to cwd, `/`-separated): whether a file the glob matches may
 * lie in it or below it. It matches the glob cut after a segment before its last one, or before its
 * first `**` (a folder on the way), or it lies below what comes before that `**`. Dots match (more
 * folders kept than the glob may want, never fewer); a glob that cannot be cut keeps every folder.
 */
function folderTest(glob: string): (relative: string) => boolean {
  const segments = globSegments(glob);
  const star = segments?.indexOf('**') ?? 0;
  if (!segments || star === 0) return () => true;
  const cuts = segments
    .slice(0, star === -1 ? segments.length - 1 : star)
    .map((_, i) => segments.slice(0, i + 1).join('/'));
  const onTheWay = cuts.length > 0 ? picomatch(cuts, { dot: true }) : () => false;
  if (star === -1) return onTheWay;
  const beforeStar = picomatch(segments.slice(0, star).join('/'), { dot: true });
  return (relative) => {
    if (onTheWay(relative)) return true;
    const parts = relative.split('/');
    return parts.length > star && beforeStar(parts.slice(0, star).join('/'));
  };
}

/** An absolute path relative to `base`, with `/`: computed once per path and shared by its matchers. */
const relativeTo = (base: string, absolute: string) => toPosix(path.relative(base, absolute));

/**
 * How a glob relative to `base` (its `/`-separated segments) writes an absolute path: relative to `base`
 * (`relative`, relativeTo's), but through the folder its leading `..` segments lead to when the path is in
 * that folder (`../api/a.js`, where path.relative writes the cwd's own file `a.js`), as the glob names it.
 */
function viewFrom(base: string, segments: readonly string[]): (absolute: string, relative: string) => string {
  const up = segments.findIndex((segment) => segment !== '..');
  if (up <= 0) return (_, relative) => relative;
  const prefix = segments.slice(0, up).join('/');
  const anchor = path.resolve(base, prefix);
  return (absolute, relative) =>
    isInside(absolute, anchor) ? path.posix.join(prefix, relativeTo(anchor, absolute)) : relative;
}

/** Whether an entry relative to the cwd is the cwd or a folder above it: `''`, `.`, `..`, `../..`, `./..`. */
const isFolderUp = (relative: string) =>
  relative.split('/').every((segment) => segment === '' || segment === '.' || segment === '..');

/** How many `..` a pattern's path starts with (`../../x/**`: 2). */
const stepsUp = (pattern: string) => {
  const segments = pattern.split('/');
  const up = segments.findIndex((segment) => segment !== '..');
  return up === -1 ? 0 : up;
};

/**
 * A test of an absolute path against ignores relative to `base`: a pattern without `/` matches any one
 * segment of the path relative to `base`, others the path or a parent of it, as the pattern writes it:
 * through the folder its leading `..` lead to (`../api/gen/**`, from packages/api, names the cwd's own
 * `gen/`, which path.relative writes `gen`), as a watch glob does (viewFrom).
 */
function ignoreMatcher(
  base: string,
  names: readonly string[],
  paths: readonly string[],
): (absolute: string) => boolean {
  const byName = nameMatcher(names);
  // the patterns that go as far up share a view of the path
  const byUp = new Map<number, string[]>();
  for (const pattern of paths) {
    const up = stepsUp(pattern);
    byUp.set(up, [...(byUp.get(up) ?? []), pattern]);
  }
  const byPath = [...byUp.values()].map((list) => ({
    view: viewFrom(base, (list[0] as string).split('/')),
    match: picomatch(list, { dot: true }),
  }));
  return (absolute) => {
    const relative = relativeTo(base, absolute);
    if (byName(relative)) return true;
    return byPath.some(({ view, match }) => {
      const seen = view(absolute, relative);
      if (seen === '') return false;
      const parts = seen.split('/');
      for (let i = 0; i < parts.length; i++) if (match(parts.slice(0, i + 1).join('/'))) return true;
      return false;
    });
  };
}

/**
 * The entries of `watch` that are no ignore (`!`), in their order, from the cwd `base`: a glob as written
 * relative to it, with the folder its static part names as its root; any other entry (a file or a folder)
 * as its root alone, absolute (`.`, `./` and the cwd itself are the cwd, `src/../lib` is `lib`, `..`
 * holds the cwd, which no path relative to the cwd shows).
 */
function watchEntries(base: string, paths: readonly string[] | true): { root: string; glob?: string }[] {
  return (paths === true ? [] : paths)
    .map((p) => p.trim())
    .filter((p) => p !== '' && !p.startsWith('!'))
    .map((entry) => {
      const pattern = relativeEntry(base, entry);
      const scan = picomatch.scan(pattern);
      return scan.isGlob
        ? { root: path.resolve(base, scan.base || '.'), glob: pattern }
        : { root: path.resolve(base, pattern) };
    });
}

/** The files and folders of watchEntries that `watch` names as they are (no glob), absolute. */
const namedPaths = (entries: readonly { root: string; glob?: string }[]): string[] =>
  entries.flatMap((e) => (e.glob === undefined ? [e.root] : []));

/**
 * A test of an absolute path: whether it is one of `msupFiles` (msup's own: its config file, each a path
 * or the paths of one file, a symbolic link and its real path), unless `paths` names that file as it is.
 * Apart from compileWatchPatterns, so that a watcher can swap them (a config link made to lead elsewhere)
 * and keep watching.
 */
export function msupFileTest(
  cwd: string,
  paths: readonly string[] | true,
  msupFiles: readonly (string | readonly string[])[],
): (absolute: string) => boolean {
  if (msupFiles.length === 0) return () => false;
  const base = path.resolve(cwd);
  const named = new Set(namedPaths(watchEntries(base, paths)));
  const own = new Set(
    msupFiles
      .map((file) => (typeof file === 'string' ? [file] : file).map((name) => path.resolve(name)))
      .filter((names) => !names.some((name) => named.has(name)))
      .flat(),
  );
  return (absolute) => own.has(absolute);
}

/**
 * Compiles what a service watches. `paths: true` is all of `cwd`; otherwise each entry is a file, a
 * folder (everything below it) or a glob (`src/**\/*.ts`), relative to `cwd` or absolute; an entry
 * starting with `!` is an ignore. `ignored` entries are globs relative to `cwd` (one through `..` sees the
 * cwd's own files through the folder it leads to, as a watch glob does), or names (no `/`) matched against
 * every path segment (`tmp`, `*.gen.ts`), but for `..` and `.` (and `../..`), which are that folder and all
 * in it. The defaults apply below each watched base,
 * so watching `build/**` explicitly still works. msup's own files (its config) are not ignored here: a
 * watcher tells them apart with msupFileTest, which it can swap.
 */
export function compileWatchPatterns(
  cwd: string,
  paths: readonly string[] | true,
  ignored: readonly string[] = [],
): WatchPatterns {
  const base = path.resolve(cwd);
  const relative = (absolute: string) => toPosix(path.relative(base, absolute));
  const entries = paths === true ? [] : paths.map((p) => p.trim()).filter((p) => p !== '');
  const negated = entries.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
  const asRelative = (p: string) => relativeEntry(base, p);

  // a name or a path as the entry is written (`tmp/` is the name tmp; `./tmp` and `/abs/cwd/tmp` are
  // the cwd's tmp, though relative to the cwd they are written `tmp` too)
  const ignores = [...ignored, ...negated].map((p) => p.trim()).filter((p) => p !== '');
  const isName = (p: string) => !toPosix(p).replace(/\/+$/, '').includes('/');
  const nameIgnores: string[] = [];
  const pathIgnores: string[] = [];
  // `..`, `../..`, `.` (or such a folder written absolute, the cwd's own too) is that folder and all in
  // it, as in `watch`: no name, since no path has a segment `.` or `..` for one to match
  const folderIgnores: string[] = [];
  for (const entry of ignores) {
    const seen = asRelative(entry);
    if (isFolderUp(seen)) folderIgnores.push(path.resolve(base, seen));
    else (isName(entry) ? nameIgnores : pathIgnores).push(seen);
  }
  const matched = ignoreMatcher(base, nameIgnores, pathIgnores);
  const userIgnored = (absolute: string) =>
    folderIgnores.some((folder) => isInside(absolute, folder)) || matched(absolute);
  const defaultIgnored = nameMatcher(DEFAULT_IGNORED);
  const defaultIgnoredFile = picomatch([...DEFAULT_IGNORED_FILES], { dot: true });

  const watched = watchEntries(base, paths);
  const globs = watched.flatMap((e) => (e.glob === undefined ? [] : [e.glob]));
  // absolute: `..` holds the cwd, which no path relative to the cwd shows (a file there is `a.js`)
  const exact = namedPaths(watched);
  const roots = new Set<string>(paths === true ? [base] : watched.map((e) => e.root));
  // a root inside another root adds nothing
  const rootList = [...roots].filter((r) => ![...roots].some((other) => other !== r && isInside(r, other)));
  // Each glob sees a path as it writes it: `../*/src/**/*.ts` (a monorepo's package watching its
  // neighbours) matches the cwd's own src/a.ts as `../api/src/a.ts`, not as path.relative's `src/a.ts`.
  const compiled = globs.map((glob) => {
    const segments = glob.split('/');
    const leading = segments
      .slice(0, -1)
      .flatMap((segment, i) => (segment === '**' ? [] : [segments.slice(0, i + 1).join('/')]));
    return {
      view: viewFrom(base, segments),
      match: picomatch(glob),
      leading: leading.length > 0 ? picomatch(leading) : () => false,
      folder: folderTest(glob),
    };
  });
  const globMatch = (absolute: string) => {
    const fromBase = relative(absolute);
    return compiled.some((g) => g.match(g.view(absolute, fromBase)));
  };

  const deepestRoot = (absolute: string) => {
    let found: string | undefined;
    for (const root of roots)
      if (isInside(absolute, root) && (!found || root.length > found.length)) found = root;
    return found;
  };

  const isIgnored = (absolute: string, isFile = false) => {
    const root = deepestRoot(absolute);
    if (root === undefined) return !rootList.some((r) => isInside(r, absolute));
    if (userIgnored(absolute)) return true;
    const below = toPosix(path.relative(root, absolute));
    return (
      defaultIgnored(below) || (isFile && below !== '' && defaultIgnoredFile(path.posix.basename(below)))
    );
  };

  // what changes is a file (the watcher reports no folders)
  const isWanted = (absolute: string) => {
    if (isIgnored(absolute, true)) return false;
    if (paths === true) return true;
    return exact.some((p) => isInside(absolute, p)) || globMatch(absolute);
  };

  const isBelowRoots = (absolute: string) =>
    deepestRoot(absolute) !== undefined && ![...roots].some((r) => isInside(r, absolute));

  const isNamedByGlob = (absolute: string) => {
    const fromBase = relative(absolute);
    return compiled.some((g) => g.leading(g.view(absolute, fromBase)));
  };

  const mayHoldWanted = (absolute: string) => {
    if (paths === true || !isBelowRoots(absolute)) return true;
    if (exact.some((p) => isInside(absolute, p))) return true;
    const fromBase = relative(absolute);
    return compiled.some((g) => g.folder(g.view(absolute, fromBase)));
  };

  return {
    roots: rootList,
    relative,
    isIgnored,
    isWanted,
    isBelowRoots,
    isNamedByGlob,
    mayHoldWanted,
    // a root, or everything in it (`'../*'` for `watch: ['..']`: a name no ignore means stands for any)
    ignoresEverything:
      rootList.length > 0 &&
      rootList.every((root) => userIgnored(root) || userIgnored(path.join(root, 'msup-any-entry'))),
  };
}
