// The bootstrap's client of msup's Runtime API: HTTP/1.1 over node:net, kept alive, one request at a
// time per connection. Not node:http: loading it made a cold start about 20 ms slower on Node 20 and
// 50 ms slower on Node 24 (measured: BENCHMARKS.md, the function runtime). It talks only to msup's own
// RuntimeApi server, whose answers always carry a Content-Length and which never closes an idle
// connection (keepAliveTimeout 0); anything else is an error.
import net from 'node:net';

export interface Answer {
  status: number;
  /** Lower-case names; a repeated header keeps its last value. */
  headers: Record<string, string>;
  body: string;
}

/** A head this long without its end is not msup's Runtime API. */
const MAX_HEAD_BYTES = 64 * 1024;

function parseHead(text: string): { status: number; headers: Record<string, string>; length: number } {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? '');
  if (!status) throw new Error(`the Runtime API answered something that is not HTTP: ${lines[0]}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`the Runtime API sent a malformed header: ${line}`);
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length']);
  if (!Number.isSafeInteger(length) || length < 0)
    throw new Error('the Runtime API answered without a valid Content-Length');
  return { status: Number(status[1]), headers, length };
}

export class RuntimeClient {
  readonly #host: string;
  readonly #port: number;
  readonly #idle = new Set<net.Socket>();

  constructor(host: string, port: number) {
    this.#host = host;
    this.#port = port;
  }

  #socket(): net.Socket {
    for (const idle of this.#idle) {
      this.#idle.delete(idle);
      if (!idle.destroyed) return idle;
    }
    return this.#connect();
  }

  #connect(): net.Socket {
    const socket = net.connect({ host: this.#host, port: this.#port, noDelay: true });
    // An idle connection that fails is simply not reused (a request's own listeners report its failure).
    socket.on('error', () => {});
    socket.on('close', () => this.#idle.delete(socket));
    return socket;
  }

  /**
   * Opens a connection for the next request now: the bootstrap calls it before loading the handler, so
   * the handshake and msup's accept happen while the handler loads rather than after it.
   */
  open(): void {
    this.#idle.add(this.#connect());
  }

  /** One request; resolves with the whole answer, rejects if the connection fails before it. */
  call(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Answer> {
    const socket = this.#socket();
    return new Promise<Answer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let received = 0;
      let head: ReturnType<typeof parseHead> | undefined;
      const done = () => {
        socket.off('data', onData);
        socket.off('error', onError);
        socket.off('close', onClose);
      };
      const fail = (error: Error) => {
        done();
        socket.destroy();
        reject(error);
      };
      const onError = (error: Error) => fail(error);
      const onClose = () => fail(new Error('the Runtime API closed the connection'));
      const onData = (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        if (!head) {
          const all = chunks.length === 1 ? chunk : Buffer.concat(chunks);
          const end = all.indexOf('\r\n\r\n');
          if (end < 0) {
            if (received > MAX_HEAD_BYTES) fail(new Error('the Runtime API sent an endless head'));
            return;
          }
          try {
            head = parseHead(all.subarray(0, end).toString('latin1'));
          } catch (error) {
            fail(error as Error);
            return;
          }
          chunks.length = 0;
          chunks.push(all.subarray(end + 4));
          received = all.length - end - 4;
        }
        if (received < head.length) return;
        if (received > head.length) {
          fail(new Error('the Runtime API sent more than its Content-Length'));
          return;
        }
        done();
        this.#idle.add(socket);
        const answer = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
        resolve({ status: head.status, headers: head.headers, body: answer.toString('utf8') });
      };
      socket.on('data', onData);
      socket.on('error', onError);
      socket.on('close', onClose);
      const payload = Buffer.from(body ?? '', 'utf8');
      const lines = [`${method} ${path} HTTP/1.1`, `host: ${this.#host}:${this.#port}`];
      // A value with a line break (an error type is the handler's own text) could forge a header: cut there.
      for (const [name, value] of Object.entries(headers))
        lines.push(`${name}: ${value.replace(/[\r\n].*$/s, '')}`);
      if (body !== undefined) lines.push('content-type: application/json');
      lines.push(`content-length: ${payload.length}`, '', '');
      socket.write(Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), payload]));
    });
  }
}
