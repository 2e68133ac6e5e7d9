// Free loopback ports for instances. Picked at random below the kernel's ephemeral range (so they
// never meet the local ports of outgoing connections, and two msup projects starting at the same
// moment are unlikely to pick the same one), checked free by binding, and never handed out twice by
// one run. A child that still loses the race exits with EADDRINUSE and is restarted on a new port.
import net from 'node:net';

export const PORT_RANGE = { min: 20_000, max: 32_767 } as const;
/** Ports checked at the same time: a thousand instances starting together must not take a thousand descriptors. */
const CHECKS_AT_ONCE = 16;

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export class PortAllocator {
  readonly #handedOut = new Set<number>();
  readonly #random: () => number;
  /** Checks by binding under way, at most CHECKS_AT_ONCE (each holds a descriptor). */
  #checking = 0;
  readonly #queue: (() => void)[] = [];

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  /** A port no one listens on now and that this allocator has not handed out. */
  async allocate(): Promise<number> {
    if (this.#checking >= CHECKS_AT_ONCE) await new Promise<void>((resolve) => this.#queue.push(resolve));
    this.#checking++;
    try {
      return await this.#find();
    } finally {
      this.#checking--;
      this.#queue.shift()?.();
    }
  }

  async #find(): Promise<number> {
    const span = PORT_RANGE.max - PORT_RANGE.min + 1;
    for (let attempt = 0; attempt < 200; attempt++) {
      const port = PORT_RANGE.min + Math.floor(this.#random() * span);
      if (this.#handedOut.has(port)) continue;
      this.#handedOut.add(port); // reserved while we check, so parallel calls never pick it twice
      if (await isFree(port)) return port;
      this.#handedOut.delete(port);
    }
    throw new Error(`no free loopback port found between ${PORT_RANGE.min} and ${PORT_RANGE.max}`);
  }

  /** Let a port be handed out again (its instance has exited). */
  release(port: number): void {
    this.#handedOut.delete(port);
  }
}
