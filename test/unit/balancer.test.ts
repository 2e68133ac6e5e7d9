// The pure balancing parts: strategies, the member set with ejection and the panic rule, with a fake clock.
import { describe, expect, it } from 'vitest';
import { PassiveHealth } from '../../src/proxy/ejection.js';
import { type BalancingSettings, indexOfLabel, Members } from '../../src/proxy/members.js';
import { LeastRequest, SmoothRoundRobin } from '../../src/proxy/strategies.js';

const c = (key: string, weight = 1, inFlight = 0) => ({ key, weight, inFlight });

function members(settings: Partial<BalancingSettings> = {}, random = () => 0.5) {
  const clock = { t: 0, now: () => clock.t, random };
  const set = new Members(
    { strategy: 'round-robin', weights: [], maxFails: 1, failTimeoutMs: 10_000, ...settings },
    clock,
  );
  return { set, clock };
}

describe('SmoothRoundRobin', () => {
  it('rotates in order with equal weights', () => {
    const rr = new SmoothRoundRobin();
    const list = [c('a'), c('b'), c('c')];
    expect(Array.from({ length: 7 }, () => rr.pick(list).key)).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a']);
  });

  it('spreads weighted picks as nginx does (5,1,1 → a a b a c a a)', () => {
    const rr = new SmoothRoundRobin();
    const list = [c('a', 5), c('b', 1), c('c', 1)];
    expect(Array.from({ length: 7 }, () => rr.pick(list).key).join(' ')).toBe('a a b a c a a');
  });

  it('keeps shares exact over many picks with weights 3:1', () => {
    const rr = new SmoothRoundRobin();
    const list = [c('a', 3), c('b', 1)];
    const picks = Array.from({ length: 400 }, () => rr.pick(list).key);
    expect(picks.filter((k) => k === 'a')).toHaveLength(300);
  });
});

describe('LeastRequest (power of two choices)', () => {
  it('takes the less loaded of two random candidates', () => {
    const draws = [0.0, 0.99]; // i = 0 (a), j = last of the rest (c)
    const lr = new LeastRequest(() => draws.shift() ?? 0);
    expect(lr.pick([c('a', 1, 5), c('b', 1, 0), c('c', 1, 2)]).key).toBe('c');
  });

  it('never picks the same candidate twice as a pair, and handles one candidate', () => {
    const lr = new LeastRequest(() => 0);
    expect(lr.pick([c('a', 1, 9)]).key).toBe('a');
    // i = 0, j = 0 → shifted to 1: a (9 in flight) against b (0)
    expect(lr.pick([c('a', 1, 9), c('b', 1, 0)]).key).toBe('b');
  });

  it('divides load by weight', () => {
    const draws = [0, 0];
    const lr = new LeastRequest(() => draws.shift() ?? 0);
    // a: (3+1)/4 = 1, b: (1+1)/1 = 2 → a
    expect(lr.pick([c('a', 4, 3), c('b', 1, 1)]).key).toBe('a');
  });
});

describe('PassiveHealth (max_fails / fail_timeout)', () => {
  it('ejects after maxFails failures within the window, for failTimeout', () => {
    const h = new PassiveHealth({ maxFails: 2, failTimeoutMs: 1000 });
    expect(h.failure('a', 0, true)).toBe(false);
    expect(h.failure('a', 500, true)).toBe(true);
    expect(h.isEjected('a', 1499)).toBe(true);
    expect(h.isEjected('a', 1500)).toBe(false);
  });

  it('forgets failures older than the window, and a success clears the count', () => {
    const h = new PassiveHealth({ maxFails: 2, failTimeoutMs: 1000 });
    h.failure('a', 0, true);
    expect(h.failure('a', 1000, true)).toBe(false);
    h.success('a');
    expect(h.failure('a', 1100, true)).toBe(false);
  });

  it('does not eject when told it would be the last one, and maxFails 0 turns it off', () => {
    const h = new PassiveHealth({ maxFails: 1, failTimeoutMs: 1000 });
    expect(h.failure('a', 0, false)).toBe(false);
    expect(h.isEjected('a', 1)).toBe(false);
    const off = new PassiveHealth({ maxFails: 0, failTimeoutMs: 1000 });
    expect(off.failure('a', 0, true)).toBe(false);
  });
});

describe('a stalled member (a response timed out)', () => {
  it('is ejected at once whatever maxFails says, never as the last healthy one, not with ejection off', () => {
    const { set, clock } = members({ maxFails: 5, failTimeoutMs: 1000 });
    const a = set.add('a', 'web#0', { host: '127.0.0.1', port: 1 });
    const b = set.add('b', 'web#1', { host: '127.0.0.1', port: 2 });
    set.stall(a);
    expect(set.stats()[0]).toMatchObject({ ejected: true, ejections: 1 });
    expect(set.pick()?.key).toBe('b');
    set.stall(b);
    expect(set.stats()[1]?.ejected).toBe(false);
    clock.t = 1000;
    expect(set.stats()[0]?.ejected).toBe(false);
    const off = members({ maxFails: 0 });
    const x = off.set.add('x', 'web#0', { host: '127.0.0.1', port: 1 });
    off.set.add('y', 'web#1', { host: '127.0.0.1', port: 2 });
    off.set.stall(x);
    expect(off.set.stats()[0]?.ejected).toBe(false);
  });
});

describe('Members', () => {
  it('picks only members in rotation, skipping the ones already tried', () => {
    const { set } = members();
    set.add('a', 'web#0', { host: '127.0.0.1', port: 1 });
    set.add('b', 'web#1', { host: '127.0.0.1', port: 2 });
    set.add('c', 'web#2', { host: '127.0.0.1', port: 3 });
    set.remove('b');
    expect([set.pick()?.key, set.pick()?.key, set.pick()?.key]).toEqual(['a', 'c', 'a']);
    expect(set.pick(new Set(['a']))?.key).toBe('c');
    expect(set.pick(new Set(['a', 'c']))).toBeUndefined();
    set.add('b', 'web#1', { host: '127.0.0.1', port: 2 });
    expect(set.readyCount).toBe(3);
  });

  it('ejects a failing member but never the last healthy one, and takes it back after failTimeout', () => {
    const { set, clock } = members({ maxFails: 1, failTimeoutMs: 1000 });
    const a = set.add('a', 'web#0', { host: '127.0.0.1', port: 1 });
    const b = set.add('b', 'web#1', { host: '127.0.0.1', port: 2 });
    set.begin(a, false);
    set.end(a, true);
    expect(set.stats()[0]).toMatchObject({ errors: 1, ejections: 1, ejected: true });
    expect([set.pick()?.key, set.pick()?.key]).toEqual(['b', 'b']);
    set.begin(b, false);
    set.end(b, true); // b is now the only healthy one: it stays in
    expect(set.stats()[1]).toMatchObject({ errors: 1, ejections: 0, ejected: false });
    clock.t = 1000;
    expect(set.stats()[0]?.ejected).toBe(false);
    expect(new Set([set.pick()?.key, set.pick()?.key])).toEqual(new Set(['a', 'b']));
  });

  it('balances over every ready member when fewer than half are healthy (panic)', () => {
    const { set } = members({ maxFails: 1 });
    const list = ['a', 'b', 'c', 'd'].map((k, i) => set.add(k, `web#${i}`, { host: '127.0.0.1', port: i }));
    for (const m of list.slice(0, 3)) {
      set.begin(m, false);
      set.end(m, true);
    }
    // a, b, c ejected one after another while others stayed healthy; 1 of 4 healthy < 50%: panic.
    expect(set.stats()[2]?.ejected).toBe(true);
    const picked = new Set(Array.from({ length: 8 }, () => set.pick()?.key));
    expect(picked).toEqual(new Set(['a', 'b', 'c', 'd']));
  });

  it('takes new settings in place: weights and strategy for the next pick, thresholds for the next failure', () => {
    const { set } = members({ maxFails: 0 });
    const a = set.add('a', 'web#0', { host: '127.0.0.1', port: 1 });
    set.add('b', 'web#1', { host: '127.0.0.1', port: 2 });
    expect(Array.from({ length: 4 }, () => set.pick()?.key)).toEqual(['a', 'b', 'a', 'b']);
    set.configure({ strategy: 'round-robin', weights: [1, 3], maxFails: 1, failTimeoutMs: 1000 });
    expect(Array.from({ length: 8 }, () => set.pick()?.key).filter((k) => k === 'b')).toHaveLength(6);
    set.begin(a, false);
    set.end(a, true); // maxFails 0 before: no ejection; 1 now
    expect(set.stats()[0]).toMatchObject({ ejections: 1, ejected: true });
    // Round robin ignores load; after a switch to least request, the busier x loses every draw.
    const { set: other } = members();
    const x = other.add('x', 'web#0', { host: '127.0.0.1', port: 1 });
    other.add('y', 'web#1', { host: '127.0.0.1', port: 2 });
    other.begin(x, false);
    other.begin(x, false);
    expect(Array.from({ length: 4 }, () => other.pick()?.key)).toEqual(['x', 'y', 'x', 'y']);
    other.configure({ strategy: 'least-request', weights: [], maxFails: 1, failTimeoutMs: 1000 });
    expect(Array.from({ length: 4 }, () => other.pick()?.key)).toEqual(['y', 'y', 'y', 'y']);
  });

  it('uses weights by instance index, and counts per index across restarts', () => {
    const { set } = members({ weights: [3] });
    set.add('a1', 'web#0', { host: '127.0.0.1', port: 1 });
    set.add('b', 'web#1', { host: '127.0.0.1', port: 2 });
    const picks = Array.from({ length: 8 }, () => set.pick()?.key);
    expect(picks.filter((k) => k === 'a1')).toHaveLength(6);
    const a1 = set.get('a1')!;
    set.begin(a1, false);
    set.end(a1, false);
    set.forget('a1');
    const a2 = set.add('a2', 'web#0', { host: '127.0.0.1', port: 3 });
    set.begin(a2, true);
    expect(set.stats()[0]).toEqual({
      inFlight: 1,
      requests: 2,
      errors: 0,
      retries: 1,
      ejections: 0,
      ejected: false,
    });
    expect(indexOfLabel('api#12')).toBe(12);
  });
});
