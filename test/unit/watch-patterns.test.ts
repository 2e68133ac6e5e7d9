// Which folders a service's watch list turns into, and which changed paths count, without touching a disk.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  compileWatchPatterns,
  msupFileTest,
  watchesNothing,
  watchWarning,
} from '../../src/watch/patterns.js';

const cwd = path.resolve('/project/web');
const at = (relative: string) => path.join(cwd, relative);

describe('compileWatchPatterns', () => {
  it('watches the static base of each glob, a plain folder or file as given, and all of cwd for true', () => {
    expect(compileWatchPatterns(cwd, ['src/**/*.ts', './lib', 'config.json']).roots).toEqual([
      at('src'),
      at('lib'),
      at('config.json'),
    ]);
    expect(compileWatchPatterns(cwd, ['*.ts']).roots).toEqual([cwd]);
    expect(compileWatchPatterns(cwd, true).roots).toEqual([cwd]);
    // a root inside another adds nothing; paths outside cwd are fine
    expect(compileWatchPatterns(cwd, ['src/**', 'src/a/*.ts', '../shared/**/*.js']).roots).toEqual([
      at('src'),
      path.resolve(cwd, '../shared'),
    ]);
  });

  it('reports files that match a glob or sit below a watched path, relative to cwd', () => {
    const p = compileWatchPatterns(cwd, ['src/**/*.ts', 'lib', 'config.json', '../shared/*.js']);
    expect(p.isWanted(at('src/a.ts'))).toBe(true);
    expect(p.isWanted(at('src/deep/er/b.ts'))).toBe(true);
    expect(p.isWanted(at('src/a.js'))).toBe(false);
    expect(p.isWanted(at('lib/x/y.json'))).toBe(true);
    expect(p.isWanted(at('config.json'))).toBe(true);
    expect(p.isWanted(at('config.json5'))).toBe(false);
    expect(p.isWanted(at('other.ts'))).toBe(false);
    expect(p.isWanted(path.resolve(cwd, '../shared/util.js'))).toBe(true);
    expect(p.relative(at('src/deep/b.ts'))).toBe('src/deep/b.ts');
  });

  it('ignores the defaults below each watched base, at any depth', () => {
    const p = compileWatchPatterns(cwd, true);
    for (const ignored of [
      'node_modules/x/index.js',
      'packages/a/node_modules/b.js',
      '.git/HEAD',
      'dist/index.js',
      'build',
      'coverage/lcov.info',
      '.msup/state.json',
      'server.log',
      'logs/app.log',
      'src/.a.ts.swp',
      'src/a.ts~',
      'attic~/a.md', // chokidar skips such a folder anyway
      'nohup.out',
      '.idea/workspace.xml',
      '.vscode/settings.json',
      'app/__pycache__/main.cpython-311.pyc',
      'app/main.pyc',
      '.venv/lib/site.py',
      '.cache/x',
      '.next/server/page.js',
    ]) {
      expect({ ignored, result: p.isIgnored(at(ignored)) }).toEqual({ ignored, result: true });
      expect(p.isWanted(at(ignored))).toBe(false);
    }
    expect(p.isWanted(at('src/index.ts'))).toBe(true);
    expect(p.isWanted(at('.env'))).toBe(true);
    // editors' files are ignored as files; folders of those names are watched
    for (const file of [
      'src/a.ts___jb_tmp___',
      'src/a.ts___jb_old___',
      'src/.#a.ts',
      'src/#a.ts#',
      'src/4913',
      '4913',
      'content/4913/4913',
      'src/.DS_Store',
      '.#drafts/.#post.md',
    ]) {
      expect({ file, result: p.isIgnored(at(file), true) }).toEqual({ file, result: true });
      expect({ file, result: p.isWanted(at(file)) }).toEqual({ file, result: false });
    }
    for (const folder of ['content/4913', '#notes#', '.#drafts', 'x___jb_old___']) {
      expect({ folder, result: p.isIgnored(at(folder)) }).toEqual({ folder, result: false });
    }
    for (const wanted of [
      'content/4913/a.md',
      '#notes#/todo.md',
      'a/#b#/4913.md',
      '.#drafts/post.md',
      '.#drafts/.eslintrc.js',
    ]) {
      expect({ wanted, result: p.isWanted(at(wanted)) }).toEqual({ wanted, result: true });
    }
    expect(compileWatchPatterns(cwd, ['data/4913']).isWanted(at('data/4913'))).toBe(true); // named
    // only those exact shapes: a file merely containing # or starting with a dot still counts
    for (const wanted of ['src/a#b.ts', 'src/#a.ts', 'src/.eslintrc.js', 'src/49130', 'src/4913.js']) {
      expect({ wanted, result: p.isWanted(at(wanted)) }).toEqual({ wanted, result: true });
    }
    // watching an ignored folder explicitly still works
    const build = compileWatchPatterns(cwd, ['build/**/*.js']);
    expect(build.isIgnored(at('build'))).toBe(false);
    expect(build.isWanted(at('build/out.js'))).toBe(true);
    expect(build.isWanted(at('build/node_modules/x.js'))).toBe(false);
  });

  it('applies watchIgnore names, globs and negated watch entries', () => {
    const p = compileWatchPatterns(
      cwd,
      ['src/**', '!src/generated/**'],
      ['*.gen.ts', 'tmp', 'src/fixtures/*.json'],
    );
    expect(p.isWanted(at('src/a.ts'))).toBe(true);
    expect(p.isWanted(at('src/a.gen.ts'))).toBe(false);
    expect(p.isWanted(at('src/tmp/x.ts'))).toBe(false);
    expect(p.isIgnored(at('src/tmp'))).toBe(true);
    expect(p.isWanted(at('src/fixtures/one.json'))).toBe(false);
    expect(p.isWanted(at('src/fixtures/one.ts'))).toBe(true);
    expect(p.isWanted(at('src/generated/api.ts'))).toBe(false);
  });

  it("takes '.', './', the cwd itself or a path that comes back to it as the whole cwd", () => {
    for (const paths of [['.'], ['./'], [cwd], ['src/..'], ['../web']]) {
      const p = compileWatchPatterns(cwd, paths);
      expect(p.roots).toEqual([cwd]);
      expect({ paths, top: p.isWanted(at('app.js')), deep: p.isWanted(at('src/a/b.ts')) }).toEqual({
        paths,
        top: true,
        deep: true,
      });
      expect(p.isWanted(at('node_modules/x/index.js'))).toBe(false);
      expect(p.mayHoldWanted(at('src/a'))).toBe(true);
    }
    expect(compileWatchPatterns(cwd, ['src/../lib']).isWanted(at('lib/a.js'))).toBe(true);
    const both = compileWatchPatterns(cwd, ['.', '../shared/*.js']);
    expect(both.isWanted(path.resolve(cwd, '../shared/util.js'))).toBe(true);
    expect(both.isWanted(path.resolve(cwd, '../shared/notes.txt'))).toBe(false);
  });

  it("takes '..' and '../..' as folders that hold the cwd: its own files are in them (a monorepo's package)", () => {
    const api = path.resolve('/mono/packages/api');
    const inApi = (relative: string) => path.resolve(api, relative);
    const up = compileWatchPatterns(api, ['..']);
    expect(up.roots).toEqual([path.resolve('/mono/packages')]);
    const upTwo = compileWatchPatterns(api, ['../..']);
    expect(upTwo.roots).toEqual([path.resolve('/mono')]);
    for (const p of [up, upTwo]) {
      for (const wanted of ['app.js', 'src/a/b.ts', '../web/index.js']) {
        expect({ wanted, result: p.isWanted(inApi(wanted)) }).toEqual({ wanted, result: true });
      }
      // the cwd and its folders are watched: they lie below the root, and hold wanted files
      for (const folder of ['.', 'src', 'src/a', '../web']) {
        expect({ folder, result: p.mayHoldWanted(inApi(folder)) }).toEqual({ folder, result: true });
      }
      expect(p.isWanted(inApi('node_modules/x/index.js'))).toBe(false);
      expect(p.isWanted(path.resolve('/elsewhere/a.js'))).toBe(false);
    }
    expect(up.isWanted(path.resolve('/mono/README.md'))).toBe(false);
    expect(upTwo.isWanted(path.resolve('/mono/README.md'))).toBe(true);
    expect(upTwo.isWanted(path.resolve('/monorepo/a.js'))).toBe(false);
    expect(up.relative(inApi('../web/index.js'))).toBe('../web/index.js');
    // watchIgnore's `.*` (dot files) is a name: the `..` on the way to a neighbour is not one.
    const dotsIgnored = compileWatchPatterns(api, ['..'], ['.*']);
    expect(dotsIgnored.isWanted(inApi('../web/index.js'))).toBe(true);
    expect(dotsIgnored.isWanted(inApi('app.js'))).toBe(true);
    expect(dotsIgnored.isWanted(inApi('../web/.env'))).toBe(false);
    expect(dotsIgnored.isWanted(inApi('.cache/x.js'))).toBe(false);
  });

  it("matches a glob through '..' against the cwd's own files, as the glob writes them (../api/src/a.ts)", () => {
    const api = path.resolve('/mono/packages/api');
    const inApi = (relative: string) => path.resolve(api, relative);
    const p = compileWatchPatterns(api, ['../*/src/**/*.ts', '../../*.json', '../api/lib/*.js']);
    for (const wanted of ['src/a.ts', 'src/deep/b.ts', '../web/src/a.ts', '../../package.json', 'lib/a.js']) {
      expect({ wanted, result: p.isWanted(inApi(wanted)) }).toEqual({ wanted, result: true });
    }
    for (const not of ['a.ts', 'lib/a.ts', 'lib/deep/a.js', 'src/a.js', 'package.json', '../web/a.ts']) {
      expect({ not, result: p.isWanted(inApi(not)) }).toEqual({ not, result: false });
    }
    // the cwd and its src/ are watched (below the root, ../), not its other folders
    for (const kept of ['.', 'src', 'src/deep', 'lib', '../web/src']) {
      expect({ kept, result: p.mayHoldWanted(inApi(kept)) }).toEqual({ kept, result: true });
    }
    for (const skipped of ['test', 'lib/deep', '../web/test']) {
      expect({ skipped, result: p.mayHoldWanted(inApi(skipped)) }).toEqual({ skipped, result: false });
    }
    // the cwd is named by the glob's `*` (a link there is followed)
    expect(p.isNamedByGlob(api)).toBe(true);
    expect(compileWatchPatterns(api, ['../**/*.ts']).isWanted(inApi('src/a.ts'))).toBe(true);
  });

  it("applies watchIgnore and '!' entries through '..' to the cwd's own files, as they write them", () => {
    const api = path.resolve('/mono/packages/api');
    const inApi = (relative: string) => path.resolve(api, relative);
    const wanted = (p: ReturnType<typeof compileWatchPatterns>, file: string) => ({
      file,
      result: p.isWanted(inApi(file)),
    });
    // from packages/api, '../api/gen' is its own gen/, and '../*/gen' every package's, its own too
    for (const [paths, ignored] of [
      [['..'], ['../api/gen/**']],
      [['..'], ['../api/gen']],
      [['..'], ['../*/gen/**']],
      [['..', '!../api/gen'], []],
      [['..', '!../*/gen/**'], []],
      [['../..'], ['../../packages/api/gen/**']],
      [['../*/src/**', 'gen/**'], ['../api/gen/']],
    ] as const) {
      const p = compileWatchPatterns(api, paths, ignored);
      const shown = { paths, ignored };
      expect({ ...shown, ...wanted(p, 'gen/a.js') }).toEqual({ ...shown, file: 'gen/a.js', result: false });
      expect({ ...shown, folder: p.isIgnored(inApi('gen')) }).toEqual({ ...shown, folder: true });
      expect({ ...shown, kept: p.isIgnored(api) }).toEqual({ ...shown, kept: false });
    }
    const own = compileWatchPatterns(api, ['..'], ['../api/gen/**', '../web/tmp']);
    for (const file of ['app.js', 'src/gen/a.js', '../web/gen/a.js', '../web/src/a.js']) {
      expect(wanted(own, file)).toEqual({ file, result: true });
    }
    expect(wanted(own, '../web/tmp/a.js')).toEqual({ file: '../web/tmp/a.js', result: false });
    const every = compileWatchPatterns(api, ['..', '!../*/gen/**']);
    expect(wanted(every, '../web/gen/a.js')).toEqual({ file: '../web/gen/a.js', result: false });
    expect(wanted(every, 'src/a.js')).toEqual({ file: 'src/a.js', result: true });
    // a neighbour's folder ignored by a negation, as before; and a plain glob stays relative to the cwd
    const shared = compileWatchPatterns(api, ['../shared', '!../shared/tmp/**']);
    expect(shared.isWanted(inApi('../shared/tmp/a.js'))).toBe(false);
    expect(shared.isWanted(inApi('../shared/a.js'))).toBe(true);
    const plain = compileWatchPatterns(api, ['..'], ['gen/**']);
    expect(wanted(plain, 'gen/a.js')).toEqual({ file: 'gen/a.js', result: false });
    expect(wanted(plain, '../web/gen/a.js')).toEqual({ file: '../web/gen/a.js', result: true });
    // the cwd itself, when an ignore names it so (only the neighbours watched)
    const others = compileWatchPatterns(api, ['..'], ['../api']);
    expect(others.isIgnored(api)).toBe(true);
    expect(wanted(others, 'app.js')).toEqual({ file: 'app.js', result: false });
    expect(wanted(others, '../web/a.js')).toEqual({ file: '../web/a.js', result: true });
  });

  it('tells a watch list that names nothing to watch: empty, or only ignores', () => {
    expect(watchesNothing([])).toBe(true);
    expect(watchesNothing(['!tmp/**', ' !*.log'])).toBe(true);
    expect(watchesNothing(true)).toBe(false);
    expect(watchesNothing(['src', '!src/tmp'])).toBe(false);
    expect(watchesNothing(['.'])).toBe(false);
  });

  it('takes a folder written with a trailing slash as the folder, in watch and in watchIgnore', () => {
    const p = compileWatchPatterns(cwd, ['src/', './lib//', '!src/gen/'], ['tmp/', 'src/fixtures/']);
    expect(p.roots).toEqual([at('src'), at('lib')]);
    expect(p.isWanted(at('src/app.js'))).toBe(true);
    expect(p.isWanted(at('lib/x/y.js'))).toBe(true);
    expect(p.isWanted(at('src/gen/api.js'))).toBe(false);
    expect(p.isWanted(at('src/tmp/x.js'))).toBe(false);
    expect(p.isWanted(at('src/fixtures/one.json'))).toBe(false);
    expect(compileWatchPatterns(cwd, ['src/**/']).isWanted(at('src/a/b.js'))).toBe(true);
  });

  it('takes an absolute or ./ entry of watchIgnore or a ! entry as a path from the cwd, not a name', () => {
    for (const ignored of [[at('tmp')], ['./tmp'], [`${at('tmp')}/`]]) {
      const p = compileWatchPatterns(cwd, true, ignored);
      expect({ ignored, cwdTmp: p.isWanted(at('tmp/a.js')) }).toEqual({ ignored, cwdTmp: false });
      expect({ ignored, srcTmp: p.isWanted(at('src/tmp/a.js')) }).toEqual({ ignored, srcTmp: true });
    }
    const negated = compileWatchPatterns(cwd, ['src', `!${at('src/gen')}`, '!./lib']);
    expect(negated.isWanted(at('src/gen/a.js'))).toBe(false);
    expect(negated.isWanted(at('src/x/gen/a.js'))).toBe(true);
    // a name, with or without a trailing slash, still matches anywhere
    expect(compileWatchPatterns(cwd, true, ['tmp/']).isWanted(at('src/tmp/a.js'))).toBe(false);
  });

  it("tells ignores that take in every root: '../**' and '../*' take in the cwd's own folder", () => {
    const api = path.resolve('/repo/packages/api');
    for (const ignored of [['../**'], ['../*']]) {
      const all = compileWatchPatterns(api, ['..'], ignored).ignoresEverything;
      expect({ ignored, all }).toEqual({ ignored, all: true });
      expect(compileWatchPatterns(api, true, ignored).ignoresEverything).toBe(true);
    }
    // the cwd's own folder is everything of watch: true, not of watch: ['..']
    expect(compileWatchPatterns(api, true, ['../api']).ignoresEverything).toBe(true);
    expect(compileWatchPatterns(api, ['..'], ['../api']).ignoresEverything).toBe(false);
    expect(compileWatchPatterns(api, ['src', 'lib'], ['src/**']).ignoresEverything).toBe(false);
    expect(compileWatchPatterns(api, ['src', 'lib'], ['src/**', 'lib']).ignoresEverything).toBe(true);
    expect(compileWatchPatterns(api, ['..', '!../*'], []).ignoresEverything).toBe(true);
    expect(compileWatchPatterns(api, ['..'], ['../web/**', 'tmp']).ignoresEverything).toBe(false);
    expect(compileWatchPatterns(api, true, ['*.log']).ignoresEverything).toBe(false);
  });

  it("takes '..', '../..' and '.' in watchIgnore (or after a !) for that folder, all of it, not for a name", () => {
    const api = path.resolve('/repo/packages/api');
    const inApi = (relative: string) => path.join(api, relative);
    for (const ignored of [['..'], ['../'], ['./..'], ['../..'], [path.resolve('/repo/packages')]]) {
      const p = compileWatchPatterns(api, true, ignored);
      expect({ ignored, wanted: p.isWanted(inApi('src/a.js')), all: p.ignoresEverything }).toEqual({
        ignored,
        wanted: false,
        all: true,
      });
    }
    // the cwd's neighbours, not the cwd (watch: ['..', '!.'])
    const others = compileWatchPatterns(api, ['..', '!.']);
    expect(others.isWanted(inApi('src/a.js'))).toBe(false);
    expect(others.isWanted(path.resolve('/repo/packages/web/a.js'))).toBe(true);
    expect(others.ignoresEverything).toBe(false);
    // the whole repo watched, but for the folder of the packages
    const repo = compileWatchPatterns(api, ['../..'], ['..']);
    expect(repo.isWanted(path.resolve('/repo/README.md'))).toBe(true);
    expect(repo.isWanted(path.resolve('/repo/packages/web/a.js'))).toBe(false);
  });

  it("warns of '..' in watchIgnore, which takes in the service's own folder: nothing restarts it", () => {
    const service = (watch: string[] | true, ignored: string[]) => ({
      name: 'api',
      cwd: path.resolve('/repo/packages/api'),
      watch: { paths: watch, ignored },
    });
    const watches: (string[] | true)[] = [true, ['src'], ['..'], ['../shared']];
    for (const watch of watches) {
      expect(watchWarning(service(watch, ['..']))).toEqual({
        setting: 'services.api.watchIgnore',
        message:
          "services.api.watchIgnore ignores everything watch names (as '..', '../**' or '../*' takes in the service's own folder): no change of its files restarts the service",
      });
    }
    expect(watchWarning(service(['..'], ['../web']))).toBeUndefined();
    expect(watchWarning(service(['../..'], ['..']))).toBeUndefined();
  });

  it('lets the watcher skip folders that lead nowhere, but not the ones on the way to a root', () => {
    const p = compileWatchPatterns(cwd, ['src/app/**/*.ts']);
    expect(p.isIgnored(cwd)).toBe(false);
    expect(p.isIgnored(at('src'))).toBe(false);
    expect(p.isIgnored(at('src/app'))).toBe(false);
    expect(p.isIgnored(at('src/other'))).toBe(true);
    expect(p.isIgnored(at('docs'))).toBe(true);
    expect(p.isIgnored(path.resolve('/elsewhere'))).toBe(true);
  });

  it('tells what lies below the roots (where a link is not followed) from a root and the way to one', () => {
    const p = compileWatchPatterns(cwd, ['src', 'src/lib/gen/**']);
    expect(p.isBelowRoots(at('src/a'))).toBe(true);
    expect(p.isBelowRoots(at('src/lib/gen/x'))).toBe(true);
    expect(p.isBelowRoots(at('src'))).toBe(false);
    expect(p.isBelowRoots(at('src/lib'))).toBe(false); // on the way to src/lib/gen
    expect(p.isBelowRoots(at('src/lib/gen'))).toBe(false);
    expect(p.isBelowRoots(cwd)).toBe(false);
    expect(p.isBelowRoots(at('docs'))).toBe(false);
    expect(compileWatchPatterns(cwd, true).isBelowRoots(cwd)).toBe(false);
    expect(compileWatchPatterns(cwd, true).isBelowRoots(at('loop'))).toBe(true);
  });

  it('tells the folders below the roots where no file the watch list wants can be (not watched)', () => {
    const p = compileWatchPatterns(cwd, [
      'node_modules/@my/*/lib/**',
      'src/*.ts',
      'pages/*/index.{js,ts}',
      'app/**/*.ts',
      'docs/guide',
      '../shared/**/*.js',
    ]);
    const holds = (relative: string) => p.mayHoldWanted(path.resolve(cwd, relative));
    for (const kept of [
      'node_modules/@my/linked',
      'node_modules/@my/linked/lib',
      'node_modules/@my/linked/lib/deep/er',
      'node_modules/@my/.hidden/lib/x', // dots are kept (more than wanted, never less)
      'pages/home',
      'app/any/where',
      'docs/guide/part',
      '../shared/x/y',
      // not judged here: roots, the way to one, paths off the roots (isIgnored)
      'src',
      'node_modules',
      'elsewhere/x',
    ]) {
      expect({ kept, result: holds(kept) }).toEqual({ kept, result: true });
    }
    for (const skipped of [
      'node_modules/@my/linked/test',
      'node_modules/@my/linked/docs/api',
      'node_modules/@my/linked/src',
      'src/lib',
      'pages/home/parts',
    ]) {
      expect({ skipped, result: holds(skipped) }).toEqual({ skipped, result: false });
    }
    // everything is kept with `true`, a glob starting with **, or one that cannot be cut at its slashes
    expect(compileWatchPatterns(cwd, true).mayHoldWanted(at('a/b/c'))).toBe(true);
    expect(compileWatchPatterns(cwd, ['**/*.ts']).mayHoldWanted(at('a/b/c'))).toBe(true);
    expect(compileWatchPatterns(cwd, ['src/{a,b/c}/*.ts']).mayHoldWanted(at('src/b/c'))).toBe(true);
    expect(compileWatchPatterns(cwd, ['src/{a,b}/*.ts']).mayHoldWanted(at('src/b'))).toBe(true);
    expect(compileWatchPatterns(cwd, ['src/{a,b}/*.ts']).mayHoldWanted(at('src/c'))).toBe(false);
  });

  it('tells a path that a wildcard of a glob names on the way to its files (a link there is followed)', () => {
    const p = compileWatchPatterns(cwd, [
      'node_modules/@my/*/lib/**',
      'libs/*/src/**',
      'src/**/*.ts',
      'pkgs/**/gen/*.js',
      'a/*',
    ]);
    expect(p.isNamedByGlob(at('node_modules/@my/linked'))).toBe(true);
    expect(p.isNamedByGlob(at('node_modules/@my/linked/lib'))).toBe(true);
    expect(p.isNamedByGlob(at('libs/linked'))).toBe(true);
    expect(p.isNamedByGlob(at('pkgs/x/y/gen'))).toBe(true);
    // `**` names no folder in particular, nor does the last segment (it names files), nor a path off the glob
    expect(p.isNamedByGlob(at('src/share'))).toBe(false);
    expect(p.isNamedByGlob(at('libs/linked/src/deep'))).toBe(false);
    expect(p.isNamedByGlob(at('pkgs/x'))).toBe(false);
    expect(p.isNamedByGlob(at('a/linked'))).toBe(false);
    expect(p.isNamedByGlob(at('libs/linked/test'))).toBe(false);
    expect(p.isNamedByGlob(at('other/linked'))).toBe(false);
    expect(compileWatchPatterns(cwd, true).isNamedByGlob(at('linked'))).toBe(false);
  });
});

describe('msupFileTest', () => {
  // a change, as the watcher tells one: a wanted file that is not msup's own
  const isChange = (paths: readonly string[] | true, msupFiles: readonly (string | readonly string[])[]) => {
    const own = msupFileTest(cwd, paths, msupFiles);
    const patterns = compileWatchPatterns(cwd, paths);
    return (absolute: string) => !own(absolute) && patterns.isWanted(absolute);
  };

  it("tells msup's own files (its config) unless the watch list names one as it is", () => {
    const config = at('supervisor.config.ts');
    const whole = msupFileTest(cwd, true, [config]);
    expect(whole(config)).toBe(true);
    expect(whole(at('packages/a/supervisor.config.ts'))).toBe(false); // only that file
    expect(whole(at('src/a.ts'))).toBe(false);
    expect(msupFileTest(cwd, true, [])(config)).toBe(false);
    expect(isChange(true, [config])(config)).toBe(false);
    expect(isChange(true, [config])(at('src/a.ts'))).toBe(true);
    expect(msupFileTest(cwd, ['*.ts'], [config])(config)).toBe(true);
    for (const named of [['supervisor.config.ts', 'src'], ['./supervisor.config.ts'], [config]]) {
      expect({ named, own: msupFileTest(cwd, named, [config])(config) }).toEqual({ named, own: false });
      expect({ named, change: isChange(named, [config])(config) }).toEqual({ named, change: true });
    }
  });

  it('tells a linked config file by each of its paths, the link and the file it leads to', () => {
    const link = at('supervisor.config.ts');
    const real = at('conf/base.ts');
    const whole = msupFileTest(cwd, true, [[link, real]]);
    expect(whole(link)).toBe(true);
    expect(whole(real)).toBe(true);
    expect(whole(at('conf/other.ts'))).toBe(false);
    expect(isChange(true, [[link, real]])(at('conf/other.ts'))).toBe(true);
    // named as it is, by either path, it is a change there (and no longer msup's own by either); a folder
    // that holds it does not name it
    const seen = (named: string) => {
      const own = msupFileTest(cwd, [named], [[link, real]]);
      const change = isChange([named], [[link, real]]);
      return { named, own: [own(link), own(real)], change: [change(link), change(real)] };
    };
    expect(seen('supervisor.config.ts')).toEqual({
      named: 'supervisor.config.ts',
      own: [false, false],
      change: [true, false],
    });
    expect(seen('conf/base.ts')).toEqual({
      named: 'conf/base.ts',
      own: [false, false],
      change: [false, true],
    });
    expect(seen('conf')).toEqual({ named: 'conf', own: [true, true], change: [false, false] });
  });
});
