// Counts and durations have documented upper bounds, checked before anything is allocated or armed.
import { describe, expect, it } from 'vitest';
import { parseScale } from '../../src/cli/args.js';
import { parseDuration } from '../../src/config/duration.js';
import { validateConfig } from '../../src/config/validate.js';
import { parseRequest } from '../../src/control/protocol.js';
import { MAX_DURATION_MS, MAX_INSTANCES } from '../../src/limits.js';

const messages = (input: unknown) => {
  const result = validateConfig(input);
  return result.ok ? [] : result.issues.map((i) => `${i.path}: ${i.message}`);
};

describe('upper bounds', () => {
  it('a service runs at most 1000 instances', () => {
    expect(MAX_INSTANCES).toBe(1000);
    expect(messages({ services: { w: { command: 'x', instances: 1000 } } })).toEqual([]);
    expect(messages({ services: { w: { command: 'x', instances: 100_000_000 } } })).toEqual([
      'services.w.instances: expected at most 1000 instances, got 100000000',
    ]);
    expect(messages({ services: { w: { command: 'x', instances: 1e300 } } })).toEqual([
      'services.w.instances: expected at most 1000 instances, got 1e+300',
    ]);
  });

  it('msup scale and the control socket refuse counts past the bound', () => {
    expect(parseScale(['w=1000'])).toEqual({ w: 1000 });
    expect(() => parseScale(['w=100000000'])).toThrow(
      expect.objectContaining({ code: 'MSUP_USAGE', message: expect.stringContaining('at most 1000') }),
    );
    expect(parseRequest({ v: 1, id: 1, cmd: 'scale', counts: { w: 1000 } })).toEqual({
      v: 1,
      id: 1,
      cmd: 'scale',
      counts: { w: 1000 },
    });
    for (const count of [1001, 1e300, -1, 1.5, '3', null]) {
      expect(() => parseRequest({ v: 1, id: 1, cmd: 'scale', counts: { w: count } })).toThrow(
        /expected a whole number from 0 to 1000/,
      );
    }
  });

  it('a duration is at most what a timer can hold (about 24.8 days)', () => {
    expect(parseDuration(MAX_DURATION_MS)).toBe(MAX_DURATION_MS);
    expect(parseDuration('596h')).toBe(596 * 3_600_000);
    expect([MAX_DURATION_MS + 1, 1e300, '597h', '99999999999h'].map(parseDuration)).toEqual(
      Array(4).fill(undefined),
    );
    expect(messages({ services: { w: { command: 'x', stopTimeout: 1e300 } } })).toEqual([
      'services.w.stopTimeout: expected a duration of at most 24 days (2147483647 ms), got 1e+300',
    ]);
  });
});
