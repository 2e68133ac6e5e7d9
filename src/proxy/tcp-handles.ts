// TCP mode's fast path: forwarding on libuv's TCP handles, the layer under net.Socket, with one
// 16 KiB buffer per direction that the kernel reads into (as nginx's stream proxy_buffer_size).
// net.Socket's stream machinery and a fresh allocation per read cost about a fifth of the CPU of
// forwarding one small request (BENCHMARKS.md). Node exposes the handles only through
// process.binding('tcp_wrap'), which is not a public API: `loadHandles()` (uv-handles.ts) checks every
// part used here and answers undefined when one is missing, and TCP mode then uses net.Socket (tcp-net.ts).
import { type Bindings, errnoError, type Handle, type Req, UV_ENOTCONN, UV_EOF } from '../uv-handles.js';
import type { Endpoint, TcpIo, TcpListening } from './tcp-io.js';

const BUFFER_BYTES = 16 * 1024;
const BACKLOG = 511;

/** One socket: closed once, whoever asks first. */
class Side implements Endpoint {
  readonly handle: Handle;
  #closed = false;
  #onClose: (() => void) | undefined;
  /** For an accepted client: its listener's count of open connections goes down. */
  #released: (() => void) | undefined;

  constructor(handle: Handle, released?: () => void) {
    this.handle = handle;
    this.#released = released;
  }

  get destroyed(): boolean {
    return this.#closed;
  }

  onClose(callback: () => void): void {
    this.#onClose = callback;
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.handle.close(() => {
      this.#released?.();
      this.#onClose?.();
    });
  }
}

/**
 * Copies one direction: reads into its own buffer and writes it out. While a write waits for the
 * kernel (the reader is slower), reading stops, so at most one buffer is held per direction. At the
 * end of input, the other side's write half is shut down once the last write is out.
 */
function pump(io: Bindings, from: Side, to: Side, done: (error: boolean) => void): void {
  const buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  // The last view of `buffer` written: request/response traffic repeats its sizes, so mostly reused.
  let view = buffer;
  let spare: Req | undefined;
  let eof = false;
  let writing = false;
  const finish = (error: boolean) => {
    if (error || to.destroyed) {
      done(true);
      return;
    }
    const req = io.newShutdown();
    req.handle = to.handle;
    req.oncomplete = (status) => done(status < 0);
    // 1: done at once (what Node's streams also accept); ENOTCONN: the peer is gone, nothing to end.
    const status = to.handle.shutdown(req);
    if (status === 1 || status === UV_ENOTCONN) done(false);
    else if (status < 0) done(true);
  };
  const written = (status: number) => {
    writing = false;
    if (status < 0) finish(true);
    else if (eof) finish(false);
    else if (!from.destroyed) from.handle.readStart();
  };
  from.handle.useUserBuffer(buffer);
  from.handle.onread = () => {
    const n = io.readResult();
    if (n === 0) return;
    if (n < 0) {
      eof = true;
      if (n !== UV_EOF) finish(true);
      else if (!writing) finish(false);
      return;
    }
    const req = spare ?? io.newWrite();
    spare = undefined;
    req.handle = to.handle;
    if (view.length !== n) view = buffer.subarray(0, n);
    const status = to.handle.writeBuffer(req, view);
    if (status < 0) {
      finish(true);
    } else if (io.lastWriteWasAsync()) {
      // The kernel took part of it; the rest is written from `buffer`, so nothing is read into it meanwhile.
      writing = true;
      req.oncomplete = written;
      from.handle.readStop();
    } else {
      spare = req;
    }
  };
  from.handle.readStart();
}

export function handleIo(io: Bindings): TcpIo {
  return {
    listen(host, port, onClient, reports) {
      const server = io.newServer();
      let status = server.bind(host, port);
      if (status === 0) status = server.listen(BACKLOG);
      if (status < 0) {
        server.close();
        return Promise.reject(errnoError(status, 'listen'));
      }
      let open = 0;
      let max = 0;
      server.onconnection = (accepted, client) => {
        if (accepted < 0 || !client) {
          // EMFILE, ENFILE: msup is out of descriptors. libuv accepts again once some are free.
          if (accepted < 0) reports.acceptFailed(errnoError(accepted, 'accept'));
          return;
        }
        if (max > 0 && open >= max) {
          client.close();
          reports.dropped(max);
          return;
        }
        open++;
        client.setNoDelay(true);
        onClient(new Side(client, () => open--));
      };
      const address: { port?: number } = {};
      server.getsockname(address);
      let closed: Promise<void> | undefined;
      const listening: TcpListening = {
        port: address.port ?? port,
        // Idempotent: a handle calls back only for its first close().
        close: () => {
          closed ??= new Promise<void>((resolve) => server.close(resolve));
          return closed;
        },
        setMaxConnections: (n) => {
          max = n;
        },
      };
      return Promise.resolve(listening);
    },

    connect(host, port, connected) {
      const side = new Side(io.newSocket());
      const req = io.newConnect();
      // Called once: a destroy() while connecting completes it with ECANCELED.
      req.oncomplete = (status) => {
        if (status < 0) connected(errnoError(status, 'connect'));
        else {
          side.handle.setNoDelay(true);
          connected(undefined);
        }
      };
      const status = side.handle.connect(req, host, port);
      if (status < 0) queueMicrotask(() => connected(errnoError(status, 'connect')));
      return side;
    },

    splice(client, upstream, closed) {
      const a = client as Side;
      const b = upstream as Side;
      let open = 2;
      const bothClosed = () => {
        if (--open === 0) closed();
      };
      a.onClose(bothClosed);
      b.onClose(bothClosed);
      let ends = 0;
      const ended = (error: boolean) => {
        if (error) {
          // A reset or a failed write ends both sides at once, as a cut connection.
          a.destroy();
          b.destroy();
        } else if (++ends === 2) {
          a.destroy();
          b.destroy();
        }
      };
      pump(io, a, b, ended);
      pump(io, b, a, ended);
    },
  };
}
