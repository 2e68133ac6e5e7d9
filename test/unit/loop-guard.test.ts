// The restart-loop guard on a fake clock: restarts that each bring on the next make a loop, however slow
// each one is; changes that come after a pause, however often, do not.
import { describe, expect, it } from 'vitest';
import { LoopGuard } from '../../src/watch/loop-guard.js';

/** One restart that takes `takesMs`, asked for at `at`: its verdict, and its end told to the guard. */
function restart(guard: LoopGuard, at: number, takesMs: number) {
  const verdict = guard.record(at);
  if (verdict === 'ok') guard.ended(at + takesMs);
  return verdict;
}

describe('LoopGuard', () => {
  it('calls a loop a row of restarts each asked for as the one before ends, however slow they are', () => {
    // A service that takes 2.5 s to be ready and writes into its files as it starts: 4 restarts in 10 s,
    // which a count within 10 s never called a loop.
    const guard = new LoopGuard();
    const verdicts: string[] = [];
    for (let i = 0, at = 0; i < 6; i++, at += 2600) verdicts.push(restart(guard, at, 2500));
    expect(verdicts).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'loop']);
    expect(guard.rule).toBe('row');
  });

  it('counts a change that comes while a restart runs as brought on by it', () => {
    const guard = new LoopGuard({ maxRestarts: 2, windowMs: 100 });
    expect(guard.record(0)).toBe('ok'); // runs from 0 ...
    expect(guard.record(50_000)).toBe('ok'); // ... and still runs: queued behind it
    expect(guard.row).toBe(2);
    expect(guard.record(60_000)).toBe('loop');
  });

  it('does not call a loop someone saving every 1.2 s, with the defaults, until the rate cap', () => {
    // Each save is reported 200 ms after it (the debounce); the service restarts in 200 to 800 ms.
    for (const takesMs of [200, 300, 800]) {
      const guard = new LoopGuard();
      const verdicts = Array.from({ length: 15 }, (_, i) => restart(guard, i * 1200 + 200, takesMs));
      expect({ takesMs, verdicts: verdicts.filter((v) => v !== 'ok') }).toEqual({ takesMs, verdicts: [] });
      expect(guard.row).toBe(1);
      // The 16th restart within 30 s is one too many, whatever brought it on.
      expect(restart(guard, 15 * 1200 + 200, takesMs)).toBe('loop');
    }
  });

  it('calls a loop a service that writes a while after it is ready, by the rate cap', () => {
    // It writes 1.1 s after its restart ended: never in a row, but a restart every 1.5 s for ever.
    const guard = new LoopGuard();
    const verdicts: string[] = [];
    for (let i = 0, at = 0; i < 16; i++, at += 1500) verdicts.push(restart(guard, at, 400));
    expect(verdicts.indexOf('loop')).toBe(15);
    expect(guard.rule).toBe('rate');
    // A higher `restarts` raises the cap with it: 3 rows' worth.
    expect(new LoopGuard({ maxRestarts: 10 }).rateRestarts).toBe(30);
    // Restarts spread wider than the cap's window never make one.
    const spread = new LoopGuard();
    const far = Array.from({ length: 50 }, (_, i) => restart(spread, i * 2100, 400));
    expect(far.every((v) => v === 'ok')).toBe(true);
  });

  it('starts a new row after a pause longer than the window, and after reset()', () => {
    const guard = new LoopGuard({ maxRestarts: 2, windowMs: 1000 });
    expect(restart(guard, 0, 100)).toBe('ok');
    expect(restart(guard, 1100, 100)).toBe('ok'); // 1000 ms after the end at 100: in the row
    expect(restart(guard, 2201, 100)).toBe('ok'); // 1001 ms after the end at 1200: a new row
    expect(guard.row).toBe(1);
    expect(restart(guard, 2400, 100)).toBe('ok');
    expect(restart(guard, 2600, 100)).toBe('loop');
    guard.reset();
    expect(restart(guard, 2600, 100)).toBe('ok');
    expect(guard.row).toBe(1);
  });

  it('uses 5 restarts in a row and a 250 ms window by default', () => {
    const guard = new LoopGuard();
    expect([guard.maxRestarts, guard.windowMs]).toEqual([5, 250]);
  });
});
