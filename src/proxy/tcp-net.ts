// TCP mode on net.Socket (public API only): the path used when Node's handle bindings are not there
// (tcp-handles.ts). Streams pipe both ways with half-close, so an end of input reaches the other side.
import net from 'node:net';
import type { Endpoint, TcpIo } from './tcp-io.js';

class NetEndpoint implements Endpoint {
  readonly socket: net.Socket;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('error', () => socket.destroy());
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export const netIo: TcpIo = {
  listen(host, port, onClient, reports) {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) =>
      onClient(new NetEndpoint(socket)),
    );
    // Past maxConnections, Node closes a new connection at once ('drop'); an error once listening is a
    // failed accept (EMFILE): both reported, and the listener goes on.
    server.on('drop', () => reports.dropped(server.maxConnections));
    server.on('error', (error: NodeJS.ErrnoException) => {
      if (server.listening) reports.acceptFailed(error);
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host, exclusive: true }, () => {
        server.off('error', reject);
        resolve({
          port: (server.address() as net.AddressInfo).port,
          close: () => new Promise<void>((done) => server.close(() => done())),
          setMaxConnections: (max) => {
            server.maxConnections = max > 0 ? max : Number.POSITIVE_INFINITY;
          },
        });
      });
    });
  },

  connect(host, port, connected) {
    const socket = net.connect({ port, host, allowHalfOpen: true, noDelay: true });
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      connected(error);
    };
    socket.once('connect', () => settle());
    socket.once('error', (error) => settle(error));
    socket.once('close', () => settle(Object.assign(new Error('connect ECANCELED'), { code: 'ECANCELED' })));
    return new NetEndpoint(socket);
  },

  splice(client, upstream, closed) {
    const c = (client as NetEndpoint).socket;
    const u = (upstream as NetEndpoint).socket;
    let open = 2;
    const one = () => {
      if (--open === 0) closed();
    };
    c.once('close', one);
    u.once('close', one);
    // A reset closes both at once (as the handle path does); an orderly close lets what one side wrote
    // reach the other first (the client's last bytes after the instance had closed its side included).
    c.once('close', () => (c.errored ? u.destroy() : u.end(() => u.destroy())));
    u.once('close', () => (u.errored ? c.destroy() : c.end(() => c.destroy())));
    c.pipe(u);
    u.pipe(c);
    c.resume();
  },
};
