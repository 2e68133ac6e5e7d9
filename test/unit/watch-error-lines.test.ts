// A watcher's errors as log lines: the first few each, then one line per period with a count, flushed when
// its period is up (even with no error after it) and at close.
import { describe, expect, it } from 'vitest';
import { type ErrorLine, ErrorLines } from '../../src/watch/error-lines.js';
import { waitFor } from '../helpers/processes.js';

const error = (i: number) => new Error(`e${i}`);
const shown = (lines: ErrorLine[]) => lines.map((l) => `${l.error.message}+${l.suppressed}`);

describe('ErrorLines', () => {
  it('logs the first few, then the latest with the count of the others once the period is up', async () => {
    const lines: ErrorLine[] = [];
    let lastAt = 0;
    const limiter = new ErrorLines(
      (line) => {
        lines.push(line);
        lastAt = Date.now();
      },
      3,
      50,
    );
    for (let i = 1; i <= 10; i++) limiter.report(error(i));
    expect(shown(lines)).toEqual(['e1+0', 'e2+0', 'e3+0']);
    expect(await waitFor(() => lines.length === 4)).toBe(true);
    expect(shown(lines).at(-1)).toBe('e10+6');
    // a later error, once a period has passed with none, is logged at once
    expect(await waitFor(() => Date.now() - lastAt >= 50)).toBe(true);
    limiter.report(error(11));
    expect(shown(lines).at(-1)).toBe('e11+0');
    limiter.close();
    expect(lines).toHaveLength(5);
  });

  it('logs what it counted at close, and nothing after', () => {
    const lines: ErrorLine[] = [];
    const limiter = new ErrorLines((line) => lines.push(line), 1, 60_000);
    limiter.report(error(1));
    limiter.report(error(2));
    limiter.report(error(3));
    limiter.close();
    limiter.report(error(4));
    limiter.close();
    expect(shown(lines)).toEqual(['e1+0', 'e3+1']);
  });
});
