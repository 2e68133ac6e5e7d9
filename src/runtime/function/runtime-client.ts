// The bootstrap's client of msup's Runtime API: HTTP/1.1, kept alive, one request at a time per
// connection. Not node:http, and not node:net where it can be helped: loading node:http made a cold start
// about 20 ms slower on Node 20 and 50 ms on Node 24, and node:net with its first connect and write still
// cost about 9 ms of a 57 ms cold start on Node 24 (measured: BENCHMARKS.md, the function runtime). So it
// connects on libuv's TCP handles (uv-handles.ts), as TCP mode forwards, and on node:net only where Node
// does not offer those. It talks only to msup's own RuntimeApi server, whose answers always carry a
// Content-Length and which never closes an idle connection (keepAliveTimeout 0); anything else is an error.
import type * as Net from 'node:net';
import { type Bindings, errnoError, type Handle, loadHandles, type Req, UV_EOF } from '../../uv-handles.js';

/** What a request listens to on its connection, one request at a time. */
export interface ConnectionEvents {
  data(chunk: Buffer): void;
  error(error: Error): void;
  /** The server closed the connection. */
  close(): void;
}

/** One connection to the Runtime API. */
export interface Connection {
  readonly destroyed: boolean;
  /** Who hears this connection's data, failure and end (null: nobody; an idle connection's end only frees it). */
  listen(events: ConnectionEvents | null): void;
  write(data: Buffer): void;
  destroy(): void;
}

/** Opens a connection; `gone` is called once when it is closed or fails, whoever closed it. */
export type Connector = (host: string, port: number, gone: () => void) => Connection;

const READ_BUFFER_BYTES = 64 * 1024;

/** A connection on a libuv TCP handle: no node:net, no streams. */
export function handleConnector(io: Bindings): Connector {
  return (host, port, gone) => {
    const handle: Handle = io.newSocket();
    const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    /** Writes made before the connect completed, sent when it does. */
    let queued: Buffer[] | null = [];
    /** Writes the kernel has not taken yet, kept alive until it has. */
    const writing = new Set<Req>();
    let events: ConnectionEvents | null = null;
    let destroyed = false;
    const close = () => {
      if (destroyed) return;
      destroyed = true;
      handle.close();
      gone();
    };
    const fail = (error: Error) => {
      const listener = events;
      close();
      listener?.error(error);
    };
    const send = (data: Buffer) => {
      const req = io.newWrite();
      req.handle = handle;
      const status = handle.writeBuffer(req, data);
      if (status < 0) fail(errnoError(status, 'write'));
      else if (io.lastWriteWasAsync()) {
        writing.add(req);
        (req as Req & { data?: Buffer }).data = data;
        req.oncomplete = (done) => {
          writing.delete(req);
          if (done < 0) fail(errnoError(done, 'write'));
        };
      }
    };
    handle.useUserBuffer(buffer);
    handle.onread = () => {
      const n = io.readResult();
      if (n === 0) return;
      if (n < 0) {
        const listener = events;
        close();
        if (n === UV_EOF) listener?.close();
        else listener?.error(errnoError(n, 'read'));
        return;
      }
      // The buffer is read into again at the next read: the request keeps a copy.
      events?.data(Buffer.from(buffer.subarray(0, n)));
    };
    const connect = io.newConnect();
    connect.oncomplete = (status) => {
      if (destroyed) return;
      if (status < 0) {
        fail(errnoError(status, 'connect'));
        return;
      }
      handle.setNoDelay(true);
      handle.readStart();
      const waiting = queued ?? [];
      queued = null;
      for (const data of waiting) send(data);
    };
    const status = handle.connect(connect, host, port);
    if (status < 0) queueMicrotask(() => fail(errnoError(status, 'connect')));
    return {
      get destroyed() {
        return destroyed;
      },
      listen(listener) {
        events = listener;
      },
      write(data) {
        if (destroyed) return;
        if (queued) queued.push(data);
        else send(data);
      },
      destroy: close,
    };
  };
}

/** A connection on node:net, loaded at the first connection (where the handles are not available). */
export function netConnector(): Connector {
  return (host, port, gone) => {
    const net = process.getBuiltinModule('node:net') as typeof Net;
    const socket = net.connect({ host, port, noDelay: true });
    let events: ConnectionEvents | null = null;
    socket.on('data', (chunk: Buffer) => events?.data(chunk));
    socket.on('error', (error) => events?.error(error));
    socket.on('close', () => {
      gone();
      events?.close();
    });
    return {
      get destroyed() {
        return socket.destroyed;
      },
      listen(listener) {
        events = listener;
      },
      write(data) {
        socket.write(data);
      },
      destroy() {
        socket.destroy();
      },
    };
  };
}

/** The handles where Node offers them, else node:net. */
export function defaultConnector(): Connector {
  const io = loadHandles();
  return io ? handleConnector(io) : netConnector();
}

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
  readonly #connector: Connector;
  readonly #idle = new Set<Connection>();

  constructor(host: string, port: number, connector: Connector = defaultConnector()) {
    this.#host = host;
    this.#port = port;
    this.#connector = connector;
  }

  #socket(): Connection {
    for (const idle of this.#idle) {
      this.#idle.delete(idle);
      if (!idle.destroyed) return idle;
    }
    return this.#connect();
  }

  #connect(): Connection {
    // An idle connection that fails is simply not reused (a request's own listener reports its failure).
    const connection: Connection = this.#connector(this.#host, this.#port, () =>
      this.#idle.delete(connection),
    );
    return connection;
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
      const done = () => socket.listen(null);
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
      socket.listen({ data: onData, error: onError, close: onClose });
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
