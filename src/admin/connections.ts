// The admin listener's connections, bounded. Node's maxConnections closes each one past the bound as it
// comes, so anyone on the machine could hold every connection with sockets that never send a byte (or
// keep-alive ones between requests) and lock out a scrape or the dashboard. As nginx does when it runs
// out (ngx_drain_connections), a new connection at the bound takes the place of the one idle longest
// (with no request in progress); only when every one has a request in progress is the new one closed.
import type http from 'node:http';
import type net from 'node:net';

/**
 * Node's own list of its server's connections (lib/_http_server.js, what closeIdleConnections reads):
 * `idle()` gives the parser of each connection whose current request is whole (its body all in) and no
 * next one begun, however its bytes came (in one write with the next request's head, say) and whether
 * or not the request reached 'request' (Node answers `Expect: foo` with 417 itself).
 */
interface ConnectionsList {
  idle(): Array<{ socket?: net.Socket | null }>;
}

/** The list, found by its symbol's description as it is private; undefined on a Node without one. */
function connectionsOf(server: http.Server): ConnectionsList | undefined {
  const key = Object.getOwnPropertySymbols(server).find((s) => s.description === 'http.server.connections');
  const list = key && (server as unknown as Record<symbol, Partial<ConnectionsList> | undefined>)[key];
  return typeof list?.idle === 'function' ? (list as ConnectionsList) : undefined;
}

/** The response its socket is writing, as Node's server keeps it (closeIdleConnections reads it too). */
const responseOf = (socket: net.Socket) =>
  (socket as net.Socket & { _httpMessage?: http.ServerResponse | null })._httpMessage;

export type Admission = 'room' | 'made-room' | 'refused';

export class ConnectionRoom {
  readonly max: number;
  readonly #server: http.Server;
  /**
   * In the order they went idle (a Set keeps its insertion order; one is put last again when a request
   * of it is done), so the first idle one is the one idle longest, the one to close, as nginx does: a
   * scrape's keep-alive connection answered a moment ago outlasts sockets that never sent a byte.
   */
  readonly #held = new Set<net.Socket>();

  constructor(max: number, server: http.Server) {
    this.max = max;
    this.#server = server;
  }

  /** Connections held now. */
  get size(): number {
    return this.#held.size;
  }

  /**
   * A new connection: held when there is room, or once the one idle longest is closed for it
   * ('made-room'); otherwise closed ('refused').
   */
  admit(socket: net.Socket): Admission {
    let outcome: Admission = 'room';
    if (this.#held.size >= this.max) {
      const idle = this.#idleLongest();
      if (!idle) {
        socket.destroy();
        return 'refused';
      }
      this.#held.delete(idle);
      idle.destroy();
      outcome = 'made-room';
    }
    this.#held.add(socket);
    socket.once('close', () => this.#held.delete(socket));
    return outcome;
  }

  /**
   * A request came on a held connection: once it is done (its body all in, its response ended: an event
   * stream's never does) the connection goes last, as the one idle the shortest time. One Node's server
   * answers itself (417) never comes here: it keeps its place, idle the longest it could be.
   */
  request(req: http.IncomingMessage, res: http.ServerResponse): void {
    const socket = req.socket;
    let open = 2;
    const done = () => {
      if (--open > 0 || !this.#held.delete(socket)) return;
      this.#held.add(socket);
    };
    res.once('close', done);
    req.once('close', done);
  }

  /**
   * The held connection idle longest: the first with no request in progress, one that has sent nothing
   * yet (Node's list counts it as a request begun, for its headersTimeout), or one Node's list says is
   * between requests and whose last response has ended (an event stream's never does). Not the
   * newcomer: it is not held yet. Without Node's list only the first kind is closed: never one whose
   * request may be in progress.
   */
  #idleLongest(): net.Socket | undefined {
    const list = connectionsOf(this.#server);
    const between = new Set(list?.idle().map((parser) => parser.socket));
    for (const socket of this.#held) {
      if (socket.bytesRead === 0) return socket;
      const response = responseOf(socket);
      // Ended is not enough: a large answer to a slow reader is still being written after end().
      const writing = (response && !response.writableFinished) || socket.writableLength > 0;
      if (between.has(socket) && !writing) return socket;
    }
    return undefined;
  }
}
