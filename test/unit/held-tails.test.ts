// The followers' tails msup holds while they are sent: bounded together, the least read dropped first.
import { describe, expect, it } from 'vitest';
import { HeldTails, TAIL_CHUNK_BYTES } from '../../src/control/held-tails.js';

/** `count` lines of `size` bytes each (the newline included), numbered from `from`. */
const lines = (count: number, size = 1000, from = 0) =>
  Array.from({ length: count }, (_, i) => `${String(from + i).padEnd(size - 1, '.')}\n`);

/** A new tail of these lines, added in chunks as the control server does. */
function hold(held: HeldTails, all: string[]) {
  const tail = held.hold();
  for (let at = 0; at < all.length; ) {
    const parts: string[] = [];
    for (let size = 0; at < all.length && size < TAIL_CHUNK_BYTES; size += (parts.at(-1) as string).length) {
      parts.push(all[at++] as string);
    }
    tail.add(parts);
  }
  return tail;
}

/** Every line left in a tail, taking it all. */
function drain(tail: { next(): Buffer | undefined }): string[] {
  let text = '';
  for (let chunk = tail.next(); chunk; chunk = tail.next()) text += chunk.toString();
  return text.split('\n').filter((line) => line !== '');
}

describe('HeldTails', () => {
  it('holds tails whole under the bound, and lets go of each chunk as it is taken', () => {
    const held = new HeldTails(1_000_000);
    const a = hold(held, lines(300));
    const b = hold(held, lines(300));
    expect(held.bytes).toBe(600_000);
    expect(drain(a)).toHaveLength(300);
    expect(held.bytes).toBe(300_000);
    b.release();
    expect(held.bytes).toBe(0);
    a.release();
    expect(a.dropped + a.skippedFirst + b.dropped + b.skippedFirst).toBe(0);
  });

  it('drops the tail taken from least recently to make room, and says how many lines it lost', () => {
    const held = new HeldTails(1_000_000);
    const idle = hold(held, lines(400));
    const reading = hold(held, lines(400));
    expect(reading.next()).toBeDefined(); // its follower took a chunk after `idle` was held
    const fresh = hold(held, lines(400));
    expect(held.bytes).toBeLessThanOrEqual(1_000_000);
    expect(idle.dropped).toBe(400);
    expect(drain(idle)).toEqual([]);
    expect(reading.dropped).toBe(0);
    expect(drain(fresh)).toHaveLength(400);
    expect(drain(reading).length).toBeGreaterThan(0);
    expect(held.bytes).toBe(0);
    // One dropped while it was still being added to: the rest of it is counted, not held.
    const late = held.hold();
    late.add(lines(600));
    hold(held, lines(600));
    late.add(lines(10));
    expect(late.dropped).toBe(610);
    expect(drain(late)).toEqual([]);
  });

  it('keeps the newest lines of a tail that alone is past the bound', () => {
    const held = new HeldTails(200_000);
    const big = hold(held, lines(1000));
    expect(held.bytes).toBeLessThanOrEqual(200_000);
    const kept = drain(big);
    expect(big.skippedFirst + kept.length).toBe(1000);
    expect(kept.at(-1)?.startsWith('999.')).toBe(true);
    expect(kept[0]?.startsWith(`${big.skippedFirst}.`)).toBe(true);
  });
});
