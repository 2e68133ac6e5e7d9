// Free loopback ports for instances: the kernel picks them, and a run never hands out one twice.
import net from 'node:net';

function listenOnFreePort(): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve(server));
  });
}

export class PortAllocator {
  readonly #handedOut = new Set<number>();

  /** A port no one listens on now and that this allocator has not handed out before. */
  async allocate(): Promise<number> {
    const held: net.Server[] = [];
    try {
      for (let attempt = 0; attempt < 50; attempt++) {
        const server = await listenOnFreePort();
        held.push(server);
        const port = (server.address() as net.AddressInfo).port;
        if (!this.#handedOut.has(port)) {
          this.#handedOut.add(port);
          return port;
        }
      }
      throw new Error('no free loopback port found in 50 attempts');
    } finally {
      await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    }
  }

  /** Let a port be handed out again (its instance has exited). */
  release(port: number): void {
    this.#handedOut.delete(port);
  }
}
