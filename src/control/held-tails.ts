// The tails of the log files read for followers (`follow` with `lines`) and not yet sent to them: held
// as encoded chunks, bounded together. A follower that does not read (a paused pager) would otherwise
// keep its whole tail in msup's memory for as long as it stays connected, and many of them any amount.

/** The most bytes of tails msup holds for all its followers together. */
export const HELD_TAILS_BYTES = 64 * 1024 * 1024;

/** The lines of a tail are held (and written) in chunks of about this many bytes. */
export const TAIL_CHUNK_BYTES = 64 * 1024;

interface Chunk {
  data: Buffer;
  lines: number;
}

/** One follower's tail: held chunk by chunk as it is encoded, taken chunk by chunk as its reader makes room. */
export interface HeldTail {
  /** Holds the next chunk: these lines, encoded, oldest first (room is made for it). */
  add(lines: readonly string[]): void;
  /** Lines of its start left out: the tail alone was past the bound (the newest are kept). */
  readonly skippedFirst: number;
  /** The next chunk to send, or undefined when all are sent (or dropped): it is no longer held. */
  next(): Buffer | undefined;
  /** Lines of it dropped to make room for a newer tail, because its follower took from it least recently. */
  readonly dropped: number;
  /** Its follower is gone, or has it all: lets go of the rest. */
  release(): void;
}

class Tail implements HeldTail {
  skippedFirst = 0;
  dropped = 0;
  bytes = 0;
  /** When it was last taken from (or held), on the holder's clock: the least recent is dropped first. */
  takenAt = 0;
  readonly chunks: Chunk[] = [];
  readonly #holder: HeldTails;

  constructor(holder: HeldTails) {
    this.#holder = holder;
  }

  add(lines: readonly string[]): void {
    this.#holder.add(this, lines);
  }

  next(): Buffer | undefined {
    const chunk = this.chunks.shift();
    if (!chunk) return undefined;
    this.bytes -= chunk.data.length;
    this.#holder.taken(this, chunk.data.length);
    return chunk.data;
  }

  /** The chunks not sent yet: dropped. Returns how many lines they held. */
  empty(): number {
    let lines = 0;
    for (const chunk of this.chunks) lines += chunk.lines;
    this.chunks.length = 0;
    this.bytes = 0;
    return lines;
  }

  release(): void {
    this.#holder.release(this);
  }
}

/**
 * The tails held for followers, at most `maxBytes` together. A new tail that does not fit makes room:
 * the tails whose followers took from theirs least recently (one that does not read at all first) are
 * dropped, and each of those followers is told how many lines it missed. So the bound holds whatever
 * the followers do, and a follower that reads gets its tail unless others keep asking for more than
 * the bound holds while it waits.
 */
export class HeldTails {
  readonly maxBytes: number;
  #bytes = 0;
  #clock = 0;
  readonly #tails = new Set<Tail>();

  constructor(maxBytes = HELD_TAILS_BYTES) {
    this.maxBytes = maxBytes;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** A new tail, empty: its chunks come with `add`. */
  hold(): HeldTail {
    const tail = new Tail(this);
    tail.takenAt = ++this.#clock;
    this.#tails.add(tail);
    return tail;
  }

  /** @internal */
  add(tail: Tail, lines: readonly string[]): void {
    if (lines.length === 0) return;
    // Dropped already (for a newer tail, while this one was still being encoded): so is the rest.
    if (!this.#tails.has(tail)) {
      tail.dropped += lines.length;
      return;
    }
    const data = Buffer.from(lines.join(''));
    tail.chunks.push({ data, lines: lines.length });
    tail.bytes += data.length;
    this.#bytes += data.length;
    while (this.#bytes > this.maxBytes) {
      // Room for it: the others whose followers took from theirs least recently are dropped ...
      let oldest: Tail | undefined;
      for (const other of this.#tails) {
        if (other !== tail && (!oldest || other.takenAt < oldest.takenAt)) oldest = other;
      }
      if (oldest) {
        this.#bytes -= oldest.bytes;
        oldest.dropped += oldest.empty();
        this.#tails.delete(oldest);
        continue;
      }
      // ... and alone past the bound, its own oldest chunks go (the newest lines are the ones asked for most).
      const first = tail.chunks.shift() as Chunk;
      tail.bytes -= first.data.length;
      this.#bytes -= first.data.length;
      tail.skippedFirst += first.lines;
    }
  }

  /** @internal A chunk of `tail` went to its follower. */
  taken(tail: Tail, bytes: number): void {
    if (!this.#tails.has(tail)) return;
    this.#bytes -= bytes;
    tail.takenAt = ++this.#clock;
  }

  /** @internal */
  release(tail: Tail): void {
    if (!this.#tails.delete(tail)) return;
    this.#bytes -= tail.bytes;
    tail.empty();
  }
}
