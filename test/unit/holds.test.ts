// The hold window's timer: a held request expires only once the wall clock reached its deadline, even
// when the timer fires early by it (a timer counts from the event loop's cached time).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Holds } from '../../src/proxy/holds.js';

describe('Holds', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('expires a held request only at its deadline by Date.now(), not when its timer fires early', () => {
    vi.useFakeTimers({ now: 10_000 });
    const holds = new Holds();
    const events: string[] = [];
    holds.hold(
      10_050,
      () => events.push('wake'),
      () => events.push(`expire at ${Date.now()}`),
    );
    vi.setSystemTime(9_995); // the wall clock is 5 ms behind the timer's count: it fires at 10_045
    vi.advanceTimersByTime(50);
    expect(events).toEqual([]);
    expect(holds.size).toBe(1);
    vi.advanceTimersByTime(5);
    expect(events).toEqual(['expire at 10050']);
    expect(holds.size).toBe(0);
  });

  it('wakes every held request at once, and a cancelled one never runs', () => {
    vi.useFakeTimers({ now: 0 });
    const holds = new Holds();
    const events: string[] = [];
    holds.hold(
      100,
      () => events.push('a woke'),
      () => events.push('a expired'),
    );
    const cancel = holds.hold(
      100,
      () => events.push('b woke'),
      () => events.push('b expired'),
    );
    holds.hold(
      100,
      () => events.push('c woke'),
      () => events.push('c expired'),
    );
    cancel();
    holds.wakeAll();
    vi.advanceTimersByTime(200);
    expect(events).toEqual(['a woke', 'c woke']);
  });
});
