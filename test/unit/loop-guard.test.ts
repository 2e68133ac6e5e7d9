// The restart-loop guard on a fake clock: a burst over the limit is a loop, a slow trickle is not.
import { describe, expect, it } from 'vitest';
import { LoopGuard } from '../../src/watch/loop-guard.js';

describe('LoopGuard', () => {
  it('allows maxRestarts inside the window and calls the next one a loop', () => {
    const guard = new LoopGuard({ maxRestarts: 3, windowMs: 1000 });
    expect([0, 100, 200].map((t) => guard.record(t))).toEqual(['ok', 'ok', 'ok']);
    expect(guard.record(300)).toBe('loop');
    expect(guard.record(400)).toBe('loop');
  });

  it('forgets restarts older than the window', () => {
    const guard = new LoopGuard({ maxRestarts: 2, windowMs: 1000 });
    expect(guard.record(0)).toBe('ok');
    expect(guard.record(500)).toBe('ok');
    // the restart at 0 is exactly one window old at 1000: it no longer counts
    expect(guard.record(1000)).toBe('ok');
    expect(guard.count(1000)).toBe(2);
    expect(guard.record(1200)).toBe('loop');
    expect(guard.count(5000)).toBe(0);
    expect(guard.record(5000)).toBe('ok');
  });

  it('never reports a loop for restarts spaced wider than window / maxRestarts', () => {
    const guard = new LoopGuard({ maxRestarts: 5, windowMs: 10_000 });
    const verdicts = Array.from({ length: 50 }, (_, i) => guard.record(i * 2001));
    expect(verdicts.every((v) => v === 'ok')).toBe(true);
  });

  it('uses 5 restarts in 10 s by default, and starts over after reset()', () => {
    const guard = new LoopGuard();
    expect(guard.maxRestarts).toBe(5);
    expect(guard.windowMs).toBe(10_000);
    for (let t = 0; t < 5; t++) expect(guard.record(t * 1000)).toBe('ok');
    expect(guard.record(5000)).toBe('loop');
    guard.reset();
    expect(guard.count(5000)).toBe(0);
    expect(guard.record(5001)).toBe('ok');
  });
});
