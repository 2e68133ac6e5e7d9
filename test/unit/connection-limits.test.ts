// The fronts' connection budget from the file-descriptor limit, and msup's own shortage of
// descriptors told apart from an instance's failure.
import { describe, expect, it } from 'vitest';
import { isLocalShortage } from '../../src/limits.js';
import { connectionBudget, defaultShare, fdLimit } from '../../src/proxy/connection-limits.js';
import { classifyFailure, mayRetry } from '../../src/proxy/retry.js';

describe('connection budget', () => {
  it('keeps a quarter of the descriptors (at least 256, at most half) and halves the rest', () => {
    expect(connectionBudget(1024)).toBe(384);
    expect(connectionBudget(256)).toBe(64);
    expect(connectionBudget(65_536)).toBe(24_576);
    expect(connectionBudget(16)).toBe(4);
    expect(connectionBudget(1)).toBe(1);
    // Unknown (no /proc): as for 1024.
    expect(connectionBudget()).toBe(384);
    expect(connectionBudget(Number.MAX_SAFE_INTEGER)).toBeGreaterThan(100_000_000);
  });

  it('splits the budget evenly between the fronts', () => {
    expect(defaultShare(384, 3)).toBe(128);
    expect(defaultShare(384, 0)).toBe(384);
    expect(defaultShare(2, 5)).toBe(1);
  });

  it("reads this process's limit", () => {
    expect(fdLimit()).toBeGreaterThan(0);
  });
});

describe("msup's own shortage", () => {
  it('is neither a connect failure nor the instance failing, and is not retried', () => {
    for (const code of ['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']) {
      expect(isLocalShortage(code)).toBe(true);
      expect(classifyFailure({ code })).toBe('local');
    }
    expect(isLocalShortage('ECONNRESET')).toBe(false);
    expect(mayRetry({ kind: 'local', method: 'GET', bodyConsumed: false, responseStarted: false })).toBe(
      false,
    );
  });
});
