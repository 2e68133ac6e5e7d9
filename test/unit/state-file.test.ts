// The project's state file as a lock: one owner, stale files taken over, concurrent starts refused,
// only the owner removes it, and a failed write is reported instead of thrown.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isMsupError } from '../../src/errors.js';
import { readState, StateFile } from '../../src/project/state-file.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const tempDir = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msup-state-'));
  dirs.push(dir);
  return dir;
};

/** Processes that are "alive" in these tests: pid → start time. */
const world = (alive: Record<number, string>) => ({
  startTimeOf: async (pid: number) => alive[pid] ?? null,
});

describe('the state file as the project lock', () => {
  it('creates the file for the first msup, and refuses a second while the first lives', async () => {
    const dir = tempDir();
    const errors: Error[] = [];
    const live = world({ 100: 't100' });
    const first = await StateFile.acquire(dir, {
      pid: 100,
      startTime: 't100',
      onError: (e) => errors.push(e),
      ...live,
    });
    expect(first.previous).toBeUndefined();
    await expect(
      StateFile.acquire(dir, { pid: 200, startTime: 't200', onError: () => {}, ...live }),
    ).rejects.toSatisfy((e) => isMsupError(e, 'MSUP_ALREADY_RUNNING') && String(e).includes('pid 100'));
    expect(readState(first.state.file)?.pid).toBe(100);
    expect(errors).toEqual([]);
  });

  it('takes over a file whose owner is gone, and hands back what it remembered', async () => {
    const dir = tempDir();
    const old = await StateFile.acquire(dir, {
      pid: 100,
      startTime: 't100',
      onError: () => {},
      ...world({}),
    });
    old.state.remember('k', { runtime: 'process', service: 'web', index: 0, data: { pgid: 4242 } });
    // pid 100 is gone (or reused by a process with another start time).
    const next = await StateFile.acquire(dir, {
      pid: 200,
      startTime: 't200',
      onError: () => {},
      ...world({ 100: 'another start time' }),
    });
    expect(next.previous?.entries.k).toEqual({
      runtime: 'process',
      service: 'web',
      index: 0,
      data: { pgid: 4242 },
    });
    expect(readState(next.state.file)).toMatchObject({ pid: 200, entries: {} });
  });

  it('lets exactly one of many concurrent starts win', async () => {
    for (let round = 0; round < 10; round++) {
      const dir = tempDir();
      // A stale file from a crashed run makes every contender try the takeover at once.
      writeFileSync(
        path.join(dir, 'state.json'),
        JSON.stringify({ version: 2, pid: 1, startTime: 'x', entries: {} }),
      );
      const alive: Record<number, string> = {};
      const contenders = [201, 202, 203, 204, 205].map(async (pid) => {
        alive[pid] = `t${pid}`;
        return StateFile.acquire(dir, { pid, startTime: `t${pid}`, onError: () => {}, ...world(alive) }).then(
          (won) => won.state,
          (error) => error as Error,
        );
      });
      const results = await Promise.all(contenders);
      const winners = results.filter((r) => r instanceof StateFile);
      expect(winners).toHaveLength(1);
      expect(results.filter((r) => isMsupError(r, 'MSUP_ALREADY_RUNNING'))).toHaveLength(4);
      const owner = readState(path.join(dir, 'state.json'))?.pid;
      expect(winners[0]?.file && owner).toBeGreaterThan(200);
    }
  });

  it('takes over an empty state file that a crash left just now, once it is no longer young', async () => {
    const dir = tempDir();
    // An exclusive create, then a crash before the write: an empty file, modified a moment ago.
    writeFileSync(path.join(dir, 'state.json'), '');
    const taken = await StateFile.acquire(dir, {
      pid: 300,
      startTime: 't300',
      onError: () => {},
      ...world({}),
    });
    expect(taken.previous).toBeUndefined();
    expect(readState(taken.state.file)?.pid).toBe(300);
    taken.state.release();
  });

  it('removes the file only for its owner', async () => {
    const dir = tempDir();
    const first = await StateFile.acquire(dir, {
      pid: 100,
      startTime: 't100',
      onError: () => {},
      ...world({}),
    });
    // Another msup took the project over meanwhile (this one was frozen and judged dead).
    const second = await StateFile.acquire(dir, {
      pid: 200,
      startTime: 't200',
      onError: () => {},
      ...world({}),
    });
    first.state.release();
    expect(readState(second.state.file)?.pid).toBe(200);
    second.state.release();
    expect(readState(second.state.file)).toBeUndefined();
  });

  it('reports a failed write and keeps going', async () => {
    const dir = tempDir();
    const errors: Error[] = [];
    const { state } = await StateFile.acquire(dir, {
      pid: 100,
      startTime: 't100',
      onError: (e) => errors.push(e),
      ...world({}),
    });
    // The temp file's name taken by a folder: the write fails as a full disk would.
    mkdirSync(`${state.file}.${process.pid}.tmp`);
    const forget = state.remember('k', { runtime: 'process', service: 'web', index: 0, data: {} });
    forget();
    expect(errors.length).toBe(2);
    expect(JSON.parse(readFileSync(state.file, 'utf8')).pid).toBe(100);
  });

  it('reads a state file of version 1 (process groups) as entries', () => {
    const dir = tempDir();
    const file = path.join(dir, 'state.json');
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        pid: 7,
        startTime: 's',
        groups: { a: { service: 'web', index: 1, pgid: 99, startTime: 'g' } },
      }),
    );
    expect(readState(file)?.entries.a).toEqual({
      runtime: 'process',
      service: 'web',
      index: 1,
      data: { pgid: 99, startTime: 'g' },
    });
  });
});
