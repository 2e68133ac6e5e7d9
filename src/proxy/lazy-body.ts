// A request body that is read from the client only once an instance starts taking it, so a request
// whose connect failed can go to the next instance with its body untouched. While msup waits for the
// client's next bytes (not while the instance is slow to take them), an idle timer runs: nginx's
// client_body_timeout.
import type http from 'node:http';
import { Readable } from 'node:stream';

export function hasBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

export class LazyBody extends Readable {
  readonly #source: http.IncomingMessage;
  readonly #idleMs: number;
  readonly #onIdle: () => void;
  #timer: NodeJS.Timeout | undefined;
  /** True once the first byte was asked for: from then on the body cannot be sent again. */
  started = false;

  /** `idleMs` (0: none): how long the client may send nothing while msup waits for its body; then `onIdle`. */
  constructor(source: http.IncomingMessage, idleMs = 0, onIdle: () => void = () => {}) {
    super();
    this.#source = source;
    this.#idleMs = idleMs;
    this.#onIdle = onIdle;
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

  override _read(): void {
    this.#waitForClient();
    if (this.started) {
      this.#source.resume();
      return;
    }
    this.started = true;
    const source = this.#source;
    source.on('data', (chunk: Buffer) => {
      if (this.push(chunk)) this.#waitForClient();
      else {
        // The instance is slower than the client: the client is not idle, msup is not reading.
        this.#stopWaiting();
        source.pause();
      }
    });
    source.once('end', () => {
      this.#stopWaiting();
      this.push(null);
    });
    source.once('error', (error) => this.destroy(error));
    source.once('aborted', () => this.destroy(new Error('client aborted the request body')));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#stopWaiting();
    // The client's stream is not ours to destroy: the client may still get a 502.
    if (this.started) this.#source.pause();
    callback(error);
  }
}
