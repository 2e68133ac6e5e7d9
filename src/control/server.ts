// The control socket a running msup listens on: one per project, mode 0600, a stale one replaced.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MsupError } from '../errors.js';
import { encode, onLines, PROTOCOL_VERSION, type Request, type Response, type StatusV1 } from './protocol.js';

const FOLLOW_BUFFER_BYTES = 1024 * 1024;

export interface ControlHandler {
  status(): Promise<StatusV1>;
  restart(service: string | undefined): Promise<unknown>;
  scale(counts: Record<string, number>): Promise<unknown>;
  stop(): Promise<void>;
  /** Sends each new output line of the service (or all) until the returned function is called. */
  follow(service: string | undefined, send: (record: unknown) => void): () => void;
}

function isInUse(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

function listen(server: net.Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export class ControlServer {
  readonly path: string;
  readonly #server: net.Server;
  readonly #handler: ControlHandler;
  readonly #subscriptions = new Set<() => void>();
  readonly #sockets = new Set<net.Socket>();
  readonly #followers = new Set<net.Socket>();

  private constructor(socketPath: string, handler: ControlHandler) {
    this.path = socketPath;
    this.#handler = handler;
    this.#server = net.createServer((socket) => this.#connection(socket));
  }

  static async open(socketPath: string, handler: ControlHandler): Promise<ControlServer> {
    mkdirSync(path.dirname(socketPath), { recursive: true });
    const control = new ControlServer(socketPath, handler);
    try {
      await listen(control.#server, socketPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      if (await isInUse(socketPath)) {
        throw new MsupError('MSUP_ALREADY_RUNNING', `another msup answers on ${socketPath}`, {
          cause: error,
        });
      }
      rmSync(socketPath, { force: true }); // left by a crashed run
      await listen(control.#server, socketPath);
    }
    chmodSync(socketPath, 0o600);
    return control;
  }

  #connection(socket: net.Socket): void {
    socket.on('error', () => {});
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    const unsubscribes: (() => void)[] = [];
    socket.on('close', () => {
      for (const stop of unsubscribes) {
        stop();
        this.#subscriptions.delete(stop);
      }
    });
    onLines(socket, (line) => void this.#request(socket, line, unsubscribes));
  }

  async #request(socket: net.Socket, line: string, unsubscribes: (() => void)[]): Promise<void> {
    const send = (message: Response) => {
      if (!socket.destroyed) socket.write(encode(message));
    };
    let request: Request;
    try {
      request = JSON.parse(line) as Request;
    } catch {
      send({ v: 1, id: 0, ok: false, error: { code: 'MSUP_CONTROL', message: 'request is not JSON' } });
      return;
    }
    const id = typeof request.id === 'number' ? request.id : 0;
    try {
      if (request.v !== PROTOCOL_VERSION) {
        throw new MsupError(
          'MSUP_CONTROL',
          `protocol version ${request.v} is not supported (this msup speaks 1)`,
        );
      }
      switch (request.cmd) {
        case 'status':
          send({ v: 1, id, ok: true, result: await this.#handler.status() });
          return;
        case 'restart':
          send({ v: 1, id, ok: true, result: await this.#handler.restart(request.service) });
          return;
        case 'scale':
          send({ v: 1, id, ok: true, result: await this.#handler.scale(request.counts) });
          return;
        case 'stop':
          await this.#handler.stop();
          send({ v: 1, id, ok: true, result: null });
          socket.end();
          return;
        case 'follow': {
          // A follower that does not read (a paused pager) gets lines dropped, then told how many.
          let skipped = 0;
          const stop = this.#handler.follow(request.service, (record) => {
            if (socket.writableLength > FOLLOW_BUFFER_BYTES) {
              skipped++;
              return;
            }
            if (skipped > 0) {
              send({ v: 1, id, event: 'line', record: { kind: 'skipped', lines: skipped } });
              skipped = 0;
            }
            send({ v: 1, id, event: 'line', record });
          });
          unsubscribes.push(stop);
          this.#subscriptions.add(stop);
          this.#followers.add(socket);
          send({ v: 1, id, ok: true, result: null });
          return;
        }
        default:
          throw new MsupError('MSUP_CONTROL', `unknown command "${(request as { cmd: unknown }).cmd}"`);
      }
    } catch (error) {
      const code = error instanceof MsupError ? error.code : 'MSUP_CONTROL';
      const rollouts = error instanceof MsupError ? error.rollouts : undefined;
      send({
        v: 1,
        id,
        ok: false,
        error: { code, message: (error as Error).message, ...(rollouts ? { rollouts } : {}) },
      });
    }
  }

  /**
   * Stops listening. A request being answered (such as the `stop` that led here) still gets its
   * answer; followers are ended; anything left open is cut after a second.
   */
  async close(): Promise<void> {
    for (const stop of this.#subscriptions) stop();
    this.#subscriptions.clear();
    for (const socket of this.#followers) socket.end();
    this.#server.close();
    rmSync(this.path, { force: true });
    setTimeout(() => {
      for (const socket of this.#sockets) socket.destroy();
    }, 1000).unref();
  }
}
