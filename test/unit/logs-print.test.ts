// How `msup logs` prints the records it reads, and what it says when the read fails halfway.
import { describe, expect, it } from 'vitest';
import { printRecords, unreadableMessage } from '../../src/cli/logs-print.js';

/** Records as a read gives them, failing with EIO after `count`. */
async function* failingAfter(count: number) {
  for (let i = 0; i < count; i++) yield { kind: 'output', line: `n${i}` };
  throw Object.assign(new Error("EIO: i/o error, read '/p/.msup/logs/web.log'"), { code: 'EIO' });
}

const out = { gone: false, room: async () => {} };

describe('printRecords', () => {
  it('says how many were shown when the read fails halfway, not that the last N could not be read', async () => {
    const printed: unknown[] = [];
    const { shown, failure } = await printRecords(failingAfter(300), (r) => printed.push(r) > 0, out, 1000);
    expect(printed).toHaveLength(300);
    expect(shown).toBe(300);
    // Before, it said "the last 1000 line(s) could not be read" after printing 300 of them.
    expect(failure).toEqual({
      kind: 'skipped',
      lines: 700,
      reason: 'unreadable',
      shown: 300,
      error: "EIO: i/o error, read '/p/.msup/logs/web.log'",
    });
    expect(unreadableMessage(failure as NonNullable<typeof failure>)).toBe(
      "msup: the read stopped after 300 line(s): up to 700 more, the newest, could not be read: EIO: i/o error, read '/p/.msup/logs/web.log'\n",
    );
  });

  it('says the last N could not be read when none was shown, and nothing when the read ends', async () => {
    const { failure } = await printRecords(failingAfter(0), () => true, out, 50);
    expect(failure).toEqual({
      kind: 'skipped',
      lines: 50,
      reason: 'unreadable',
      error: "EIO: i/o error, read '/p/.msup/logs/web.log'",
    });
    expect(unreadableMessage(failure as NonNullable<typeof failure>)).toBe(
      "msup: the last 50 line(s) could not be read: EIO: i/o error, read '/p/.msup/logs/web.log'\n",
    );
    async function* two() {
      yield 1;
      yield 2;
    }
    expect(await printRecords(two(), () => true, out, 50)).toEqual({ shown: 2 });
  });

  it('stops once the reader is gone, and waits for room when the output is past its mark', async () => {
    let rooms = 0;
    const sink = { gone: false, room: async () => void rooms++ };
    const printed: unknown[] = [];
    async function* many() {
      for (let i = 0; i < 10; i++) yield i;
    }
    const { shown } = await printRecords(
      many(),
      (r) => {
        printed.push(r);
        if (printed.length === 4) sink.gone = true;
        return false;
      },
      sink,
      10,
    );
    expect(shown).toBe(4);
    expect(rooms).toBe(4);
  });
});
