// What the CLI prints goes through here: writes run off the event loop (fs.write on the fd, in libuv's
// thread pool), so a terminal or pipe that stops reading never blocks msup; a reader that is gone (EPIPE,
// EIO) is noted, never thrown; any other failed write (ENOSPC: a full disk) is kept for main.ts, which
// fails the command over it; an optional bound drops lines instead of buffering without end.
import { write as fsWrite } from 'node:fs';

export interface OutputSinkOptions {
  /** Past this many queued bytes, writes are dropped (and counted) until the queue has room. */
  limit?: number;
  /** Once the reader is gone: later writes are dropped silently. */
  onGone?: (error: NodeJS.ErrnoException) => void;
  /** Once the queue is back under half the limit after drops: how many lines were dropped. */
  onDropped?: (lines: number) => void;
}

/** Queued bytes above which `write` answers false, so a caller that can wait (logs -f) pauses. */
const HIGH_WATER = 64 * 1024;
/** The most one fs.write call takes. */
const BATCH = 64 * 1024;
/** How long to wait before trying again when a non-blocking fd is full (EAGAIN). */
const RETRY_MS = 20;

/** A reader that went away (| head, a closed terminal): nothing was lost that anyone would read. */
const READER_GONE = new Set(['EPIPE', 'EIO']);

const countLines = (text: string) => {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n || 1;
};

/** The CLI's two outputs. */
export interface Stdio {
  out: OutputSink;
  err: OutputSink;
}

export class OutputSink {
  readonly #fd: number;
  #limit: number;
  #options: OutputSinkOptions;
  #chunks: Buffer[] = [];
  #queued = 0;
  #writing = false;
  #dropped = 0;
  #gone = false;
  #lost: NodeJS.ErrnoException | undefined;
  #waiters: { idle: boolean; resolve: () => void }[] = [];

  constructor(fd: number, options: OutputSinkOptions = {}) {
    this.#fd = fd;
    this.#limit = Number.POSITIVE_INFINITY;
    this.#options = {};
    this.configure(options);
  }

  /** Sets the bound and the callbacks (a command that knows what to do with drops sets them). */
  configure(options: OutputSinkOptions): void {
    this.#limit = options.limit ?? Number.POSITIVE_INFINITY;
    this.#options = options;
  }

  /** True once a write failed for good (the reader is gone). */
  get gone(): boolean {
    return this.#gone;
  }

  /** The write error that lost output, when it was not the reader going away (ENOSPC, EBADF…). */
  get lost(): NodeJS.ErrnoException | undefined {
    return this.#lost;
  }

  /**
   * Queues `text`. Never blocks and never throws. Answers false when the text was dropped, or when the
   * queue is above its high-water mark (wait for `room()` before writing more, if you can).
   */
  write(text: string): boolean {
    if (this.#gone || text === '') return !this.#gone;
    if (this.#queued > 0 && this.#queued + Buffer.byteLength(text) > this.#limit) {
      this.#dropped += countLines(text);
      return false;
    }
    const chunk = Buffer.from(text);
    this.#chunks.push(chunk);
    this.#queued += chunk.length;
    this.#pump();
    return this.#queued < HIGH_WATER;
  }

  /** Resolves once the queue is under the high-water mark (or the reader is gone). */
  room(): Promise<void> {
    return this.#wait(false);
  }

  /** Resolves once everything queued is written, the reader is gone, or `timeoutMs` passed. */
  flush(timeoutMs?: number): Promise<void> {
    const idle = this.#wait(true);
    if (timeoutMs === undefined) return idle;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    return Promise.race([idle, late]).finally(() => clearTimeout(timer));
  }

  #wait(idle: boolean): Promise<void> {
    if (this.#settled(idle)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ idle, resolve }));
  }

  #settled(idle: boolean): boolean {
    if (this.#gone) return true;
    return idle ? this.#queued === 0 && !this.#writing : this.#queued < HIGH_WATER;
  }

  #wake(): void {
    const waiting = this.#waiters;
    this.#waiters = waiting.filter((w) => !this.#settled(w.idle));
    for (const w of waiting) if (this.#settled(w.idle)) w.resolve();
  }

  #pump(): void {
    if (this.#writing || this.#gone || this.#chunks.length === 0) return;
    let buffer = this.#chunks[0] as Buffer;
    if (buffer.length < BATCH && this.#chunks.length > 1) {
      let take = 0;
      let size = 0;
      while (take < this.#chunks.length && size + (this.#chunks[take] as Buffer).length <= BATCH) {
        size += (this.#chunks[take] as Buffer).length;
        take++;
      }
      if (take > 1) {
        buffer = Buffer.concat(this.#chunks.slice(0, take), size);
        this.#chunks.splice(0, take, buffer);
      }
    }
    this.#writing = true;
    fsWrite(this.#fd, buffer, 0, Math.min(buffer.length, BATCH), null, (error, written) => {
      this.#writing = false;
      if (error) {
        if (error.code === 'EAGAIN' || error.code === 'EINTR') {
          setTimeout(() => this.#pump(), RETRY_MS);
          return;
        }
        this.#fail(error);
        return;
      }
      this.#queued -= written;
      if (written === buffer.length) this.#chunks.shift();
      else this.#chunks[0] = buffer.subarray(written);
      this.#reportDrops();
      this.#pump();
      this.#wake();
    });
  }

  #reportDrops(): void {
    if (this.#dropped === 0 || this.#queued > this.#limit / 2) return;
    const lines = this.#dropped;
    this.#dropped = 0;
    this.#options.onDropped?.(lines);
  }

  #fail(error: NodeJS.ErrnoException): void {
    this.#gone = true;
    if (!READER_GONE.has(error.code ?? '')) this.#lost = error;
    this.#chunks = [];
    this.#queued = 0;
    this.#wake();
    this.#options.onGone?.(error);
  }
}
