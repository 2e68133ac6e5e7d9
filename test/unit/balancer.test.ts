import { describe, expect, it } from 'vitest';
import { RoundRobin } from '../../src/proxy/balancer.js';

const m = (key: string) => ({ key });

describe('RoundRobin', () => {
  it('visits members in turn', () => {
    const rr = new RoundRobin();
    for (const k of ['a', 'b', 'c']) rr.add(m(k));
    expect(Array.from({ length: 7 }, () => rr.next()?.key)).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a']);
  });

  it('returns undefined when empty, and ignores a duplicate add', () => {
    const rr = new RoundRobin();
    expect(rr.next()).toBeUndefined();
    rr.add(m('a'));
    rr.add(m('a'));
    expect(rr.size).toBe(1);
  });

  it('keeps the turn fair when a member before the cursor leaves', () => {
    const rr = new RoundRobin();
    for (const k of ['a', 'b', 'c']) rr.add(m(k));
    expect(rr.next()?.key).toBe('a');
    expect(rr.next()?.key).toBe('b');
    rr.remove('a');
    expect([rr.next()?.key, rr.next()?.key, rr.next()?.key]).toEqual(['c', 'b', 'c']);
  });

  it('skips excluded members (already tried for this request)', () => {
    const rr = new RoundRobin();
    for (const k of ['a', 'b', 'c']) rr.add(m(k));
    expect(rr.next(new Set(['a']))?.key).toBe('b');
    expect(rr.next(new Set(['c', 'a']))?.key).toBe('b');
    expect(rr.next(new Set(['a', 'b', 'c']))).toBeUndefined();
  });

  it('removing an unknown key changes nothing', () => {
    const rr = new RoundRobin();
    rr.add(m('a'));
    expect(rr.remove('zz')).toBeUndefined();
    expect(rr.remove('a')?.key).toBe('a');
    expect(rr.size).toBe(0);
  });
});
