// A request body that is read from the client only once an instance starts taking it, so a request
// whose connect failed can go to the next instance with its body untouched.
import type http from 'node:http';
import { Readable } from 'node:stream';

export function hasBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

export class LazyBody extends Readable {
  readonly #source: http.IncomingMessage;
  /** True once the first byte was asked for: from then on the body cannot be sent again. */
  started = false;

  constructor(source: http.IncomingMessage) {
    super();
    this.#source = source;
  }

  override _read(): void {
    if (this.started) {
      this.#source.resume();
      return;
    }
    this.started = true;
    const source = this.#source;
    source.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) source.pause();
    });
    source.once('end', () => this.push(null));
    source.once('error', (error) => this.destroy(error));
    source.once('aborted', () => this.destroy(new Error('client aborted the request body')));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // The client's stream is not ours to destroy: the client may still get a 502.
    if (this.started) this.#source.pause();
    callback(error);
  }
}
