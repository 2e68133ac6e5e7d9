// chokidar's errors: one after close (chokidar's close() removes every listener, msup's 'error' listener
// too, while a stat it started before can still fail and emit 'error'): msup must not die of it; and a
// flood of them (a tree failing file after file): a few log lines, then a count, not one line each.
// The real chokidar on real folders; the tests only keep hold of its instance to emit such errors.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FSWatcher } from 'chokidar';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LogRecord } from '../../src/index.js';
import { ERRORS_LOGGED_ONE_BY_ONE } from '../../src/watch/error-lines.js';
import { createWatcher } from '../../src/watch/watcher.js';
import { useProject } from '../helpers/project.js';

const made = vi.hoisted(() => ({ watchers: [] as FSWatcher[] }));
vi.mock('chokidar', async (importOriginal) => {
  const real = await importOriginal<typeof import('chokidar')>();
  return {
    ...real,
    watch: (...args: Parameters<typeof real.watch>) => {
      const watcher = real.watch(...args);
      made.watchers.push(watcher);
      return watcher;
    },
  };
});

const project = useProject();
let root = '';
afterEach(async () => {
  await Promise.all(made.watchers.splice(0).map((w) => w.close()));
  if (root) rmSync(root, { recursive: true, force: true });
  root = '';
});

describe('createWatcher close', () => {
  it('survives an error chokidar emits after close (a scan still under way)', async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'msup-watch-close-'));
    writeFileSync(path.join(root, 'a.js'), 'x');
    const errors: Error[] = [];
    const watcher = createWatcher({
      cwd: root,
      paths: true,
      onChange: () => {},
      onError: (e) => errors.push(e),
    });
    await watcher.ready;
    expect(made.watchers).toHaveLength(1);
    const chokidar = made.watchers[0] as FSWatcher;
    await watcher.close();
    const late = Object.assign(new Error("ELOOP: too many symbolic links encountered, stat 'loop/loop'"), {
      code: 'ELOOP',
    });
    // What a stat that was in flight at close does: with no 'error' listener, emit throws (uncaught).
    expect(() => chokidar.emit('error', late)).not.toThrow();
    expect(errors).toEqual([]);
  });

  it('logs the first watch errors of a watcher, then counts the others into one line', async () => {
    const p = project();
    p.write('src/app.js', '// v1\n');
    p.writeConfig({
      idle: { command: [process.execPath, '-e', 'setInterval(() => {}, 1000)'], watch: ['src'] },
    });
    const sup = p.create({ configFile: 'supervisor.config.json' });
    const logs: LogRecord[] = [];
    sup.on('log', (r) => logs.push(r));
    await sup.start();
    expect(made.watchers).toHaveLength(1);
    const chokidar = made.watchers[0] as FSWatcher;
    // as a tree that cannot be read fails: one error per folder, all at once
    const failed = (i: number) =>
      Object.assign(new Error(`EACCES: permission denied, scandir 'src/d${i}'`), { code: 'EACCES' });
    for (let i = 1; i <= 30; i++) chokidar.emit('error', failed(i));
    const lines = () => logs.filter((r) => r.msg === 'watch error');
    expect(lines()).toHaveLength(ERRORS_LOGGED_ONE_BY_ONE);
    expect(lines().map((r) => r.error)).toEqual(
      Array.from({ length: ERRORS_LOGGED_ONE_BY_ONE }, (_, i) => failed(i + 1).message),
    );
    expect(lines().every((r) => r.where === 'idle' && r.suppressed === undefined)).toBe(true);
    // the count is not lost when the watcher goes: its line comes at the stop at the latest
    await sup.stop();
    expect(lines()).toHaveLength(ERRORS_LOGGED_ONE_BY_ONE + 1);
    expect(lines().at(-1)).toMatchObject({
      where: 'idle',
      error: failed(30).message,
      suppressed: 30 - ERRORS_LOGGED_ONE_BY_ONE - 1,
    });
  });
});
