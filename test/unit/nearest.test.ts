// "Did you mean": the closest known name to a typo, and no suggestion when nothing is close.
import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance, nearest } from '../../src/config/nearest.js';

describe('nearest', () => {
  it('counts insertions, deletions, substitutions and swapped neighbours as one edit each', () => {
    expect(editDistance('instaces', 'instances')).toBe(1);
    expect(editDistance('wbe', 'web')).toBe(1);
    expect(editDistance('stpo', 'stop')).toBe(1);
    expect(editDistance('port', 'prot')).toBe(1);
    expect(editDistance('abc', 'abc')).toBe(0);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('suggests the closest candidate when it is close enough to be a typo', () => {
    expect(nearest('instaces', ['command', 'instances', 'port'])).toBe('instances');
    expect(nearest('wbe', ['api', 'web', 'worker'])).toBe('web');
    expect(nearest('Satus', ['start', 'status', 'stop'])).toBe('status');
    expect(nearest('launch', ['start', 'status', 'logs'])).toBeUndefined();
    expect(nearest('x', ['y'])).toBeUndefined();
    expect(didYouMean('wbe', ['web'])).toBe('; did you mean "web"?');
    expect(didYouMean('zzz', ['web'])).toBe('');
  });
});
