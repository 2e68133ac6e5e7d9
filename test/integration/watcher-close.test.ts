// chokidar's close() removes every listener, msup's 'error' listener too, while a stat it started before
// (a deep scan, a symlink loop) can still fail and emit 'error' after it: msup must not die of that.
// The real chokidar on a real folder; the test only keeps hold of the instance to emit that late error.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FSWatcher } from 'chokidar';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createWatcher } from '../../src/watch/watcher.js';

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

let root = '';
afterEach(async () => {
  await Promise.all(made.watchers.splice(0).map((w) => w.close()));
  rmSync(root, { recursive: true, force: true });
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
});
