// The TypeScript config's compile cache stays bounded: files jiti has not used for 30 days are removed,
// at most once a day, and a file still read (its access time) is kept.
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { COMPILE_CACHE_MAX_AGE_MS, pruneCompileCache } from '../../src/config/load.js';

const DAY = 24 * 60 * 60 * 1000;
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function file(
  dir: string,
  name: string,
  accessedDaysAgo: number,
  modifiedDaysAgo: number,
  now: number,
): string {
  const full = path.join(dir, name);
  writeFileSync(full, 'compiled');
  utimesSync(full, (now - accessedDaysAgo * DAY) / 1000, (now - modifiedDaysAgo * DAY) / 1000);
  return full;
}

it('removes what was not used for 30 days, once a day, and keeps what is still read', () => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'msup-cache-'));
  dirs.push(home);
  const dir = path.join(home, 'jiti');
  mkdirSync(dir);
  const now = Date.now();
  expect(COMPILE_CACHE_MAX_AGE_MS).toBe(30 * DAY);
  const old = file(dir, 'app-supervisor.config.aaaa.mjs', 40, 40, now);
  const read = file(dir, 'app-supervisor.config.bbbb.mjs', 1, 40, now);
  const fresh = file(dir, 'app-supervisor.config.cccc.mjs', 0, 0, now);
  pruneCompileCache(dir, now);
  expect([existsSync(old), existsSync(read), existsSync(fresh)]).toEqual([false, true, true]);
  expect(existsSync(path.join(home, 'jiti.pruned'))).toBe(true); // beside the folder, not in it

  // Pruned today: a file that turns 40 days old is left until tomorrow's pruning.
  const later = file(dir, 'app-supervisor.config.dddd.mjs', 40, 40, now);
  pruneCompileCache(dir, now + DAY / 2);
  expect(existsSync(later)).toBe(true);
  pruneCompileCache(dir, now + 2 * DAY);
  expect(existsSync(later)).toBe(false);
  expect(existsSync(fresh)).toBe(true);
});

it('does nothing, and throws nothing, where the folder is not there', () => {
  expect(() => pruneCompileCache(path.join(os.tmpdir(), 'msup-no-such-folder', 'jiti'))).not.toThrow();
});
