// The admin listener's connections, bounded. Node's maxConnections closes each one past the bound as it
// comes, so anyone on the machine could hold every connection with sockets that never send a byte (or
// keep-alive ones between requests) and lock out a scrape or the dashboard. As nginx does when it runs
// out (ngx_drain_connections), a new connection at the bound takes the place of the oldest one with no
// request in progress; only when every one has a request in progress is the new one closed.
import type http from 'node:http';
import type net from 'node:net';

interface Held {
  /**
   * Requests of it not yet done: a request is done once its response has ended (an event stream's never
   * does while it is open) and its body has all come (after an early answer, Node's server reads the
   * rest of it and drops it).
   */
  requests: number;
  /**
   * What its socket had read when it last had no request: more read since is a request begun (its
   * head is coming), which Node's server says nothing of until the head is whole.
   */
  readAtRest: number;
}

export type Admission = 'room' | 'made-room' | 'refused';

export class ConnectionRoom {
  readonly max: number;
  /** Oldest first (a Map keeps its insertion order): the first idle one is the one to close. */
  readonly #held = new Map<net.Socket, Held>();

  constructor(max: number) {
    this.max = max;
  }

  /** Connections held now. */
  get size(): number {
    return this.#held.size;
  }

  /**
   * A new connection: held when there is room, or once the oldest idle connection is closed for it
   * ('made-room'); otherwise closed ('refused').
   */
  admit(socket: net.Socket): Admission {
    let outcome: Admission = 'room';
    if (this.#held.size >= this.max) {
      const idle = this.#oldestIdle();
      if (!idle) {
        socket.destroy();
        return 'refused';
      }
      this.#held.delete(idle);
      idle.destroy();
      outcome = 'made-room';
    }
    this.#held.set(socket, { requests: 0, readAtRest: 0 });
    socket.once('close', () => this.#held.delete(socket));
    return outcome;
  }

  /** A request came on a held connection: it is busy until the request is done (or its connection closes). */
  request(req: http.IncomingMessage, res: http.ServerResponse): void {
    const socket = req.socket;
    const held = this.#held.get(socket);
    if (!held) return;
    held.requests++;
    let open = 2;
    const done = () => {
      if (--open > 0) return;
      held.requests--;
      if (held.requests === 0) held.readAtRest = socket.bytesRead;
    };
    res.once('close', done);
    req.once('close', done);
  }

  #oldestIdle(): net.Socket | undefined {
    for (const [socket, held] of this.#held) {
      if (held.requests === 0 && socket.bytesRead === held.readAtRest) return socket;
    }
    return undefined;
  }
}
