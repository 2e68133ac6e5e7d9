// A request body that is read from the client only once an instance starts taking it, so a request
// whose connect failed can go to the next instance with its body untouched. The bytes read are kept up
// to REPLAY_LIMIT (BodyReplay, one per request), so an attempt that an instance never took (a sidecar's
// "not forwarded" answer) can go to the next one too: its body replays them, then reads on from the
// client. While msup waits for the client's next bytes (not while the instance is slow to take them), an
// idle timer runs: nginx's client_body_timeout.
import type http from 'node:http';
import { Readable } from 'node:stream';

/** Up to this much of a request body is kept for another attempt; past it, the body goes once. */
export const REPLAY_LIMIT = 64 * 1024;

export function hasBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** The bytes of one request's body read from the client so far, while they stay within the limit. */
export class BodyReplay {
  readonly limit: number;
  chunks: Buffer[] = [];
  bytes = 0;
  /** More than `limit` bytes were read: nothing is kept, the body cannot be sent again. */
  overflowed = false;
  /** The client's body ended: `chunks` is all of it. */
  ended = false;

  constructor(limit = REPLAY_LIMIT) {
    this.limit = limit;
  }

  keep(chunk: Buffer): void {
    if (this.overflowed) return;
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      this.overflowed = true;
      this.chunks = [];
    } else this.chunks.push(chunk);
  }
}

export class LazyBody extends Readable {
  readonly #source: http.IncomingMessage;
  readonly #idleMs: number;
  readonly #onIdle: () => void;
  readonly #replay: BodyReplay | null;
  #timer: NodeJS.Timeout | undefined;
  /** Listening to the client's stream (removed on destroy, so a later attempt's body can take over). */
  #listening = false;
  /** True once the first byte was asked for. */
  started = false;

  /**
   * `idleMs` (0: none): how long the client may send nothing while msup waits for its body; then
   * `onIdle`. With `replay`, what earlier attempts read is sent first, and what this one reads is kept.
   */
  constructor(source: http.IncomingMessage, idleMs = 0, onIdle: () => void = () => {}, replay?: BodyReplay) {
    super();
    this.#source = source;
    this.#idleMs = idleMs;
    this.#onIdle = onIdle;
    this.#replay = replay ?? null;
  }

  /** Whether the request can still be sent in full to another instance. */
  get replayable(): boolean {
    return !this.started || (this.#replay !== null && !this.#replay.overflowed);
  }

  #waitForClient(): void {
    if (this.#idleMs <= 0 || this.#source.readableEnded) return;
    if (this.#timer) this.#timer.refresh();
    else this.#timer = setTimeout(() => this.#onIdle(), this.#idleMs);
  }

  #stopWaiting(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#replay?.keep(chunk);
    if (this.push(chunk)) this.#waitForClient();
    else {
      // The instance is slower than the client: the client is not idle, msup is not reading.
      this.#stopWaiting();
      this.#source.pause();
    }
  };

  readonly #onEnd = (): void => {
    if (this.#replay) this.#replay.ended = true;
    this.#stopWaiting();
    this.push(null);
  };

  readonly #onError = (error: Error): void => void this.destroy(error);
  readonly #onAborted = (): void => void this.destroy(new Error('client aborted the request body'));

  override _read(): void {
    if (this.started) {
      this.#waitForClient();
      this.#source.resume();
      return;
    }
    this.started = true;
    const replay = this.#replay;
    if (replay) {
      for (const chunk of replay.chunks) this.push(chunk);
      if (replay.ended) {
        this.push(null);
        return;
      }
    }
    this.#waitForClient();
    const source = this.#source;
    this.#listening = true;
    source.on('data', this.#onData);
    source.once('end', this.#onEnd);
    source.once('error', this.#onError);
    source.once('aborted', this.#onAborted);
    // An earlier attempt's body paused the stream: a new 'data' listener does not resume it.
    source.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#stopWaiting();
    if (this.#listening) {
      this.#listening = false;
      const source = this.#source;
      source.off('data', this.#onData);
      source.off('end', this.#onEnd);
      source.off('error', this.#onError);
      source.off('aborted', this.#onAborted);
      // The client's stream is not ours to destroy: the client may still get a 502, or another attempt.
      source.pause();
    }
    callback(error);
  }
}
