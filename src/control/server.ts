// The control socket a running msup listens on: one per project, mode 0600, a stale one replaced.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MsupError } from '../errors.js';
import {
  BadRequest,
  encode,
  onLines,
  parseRequest,
  type Request,
  type Response,
  type StatusV1,
} from './protocol.js';

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

  private constructor(socketPath: string, handler: ControlHandler, onError: (error: Error) => void) {
    this.path = socketPath;
    this.#handler = handler;
    this.#server = net.createServer((socket) => this.#connection(socket));
    // Once listening, an error is a failed accept (EMFILE, ENFILE): reported, and msup goes on.
    this.#server.on('error', (error) => {
      if (this.#server.listening) onError(error);
    });
  }

  /** `onError`: a connection that could not be accepted (msup out of file descriptors). */
  static async open(
    socketPath: string,
    handler: ControlHandler,
    onError: (error: Error) => void = () => {},
  ): Promise<ControlServer> {
    mkdirSync(path.dirname(socketPath), { recursive: true });
    const control = new ControlServer(socketPath, handler, onError);
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
    // #request answers every failure itself; the catch is a last guard so no message can end msup.
    onLines(socket, (line) => {
      this.#request(socket, line, unsubscribes).catch(() => socket.destroy());
    });
  }

  async #request(socket: net.Socket, line: string, unsubscribes: (() => void)[]): Promise<void> {
    const send = (message: Response) => {
      if (!socket.destroyed) socket.write(encode(message));
    };
    const fail = (id: number, error: unknown) => {
      const code = error instanceof MsupError ? error.code : 'MSUP_CONTROL';
      const rollouts = error instanceof MsupError ? error.rollouts : undefined;
      const message = error instanceof Error ? error.message : String(error);
      send({ v: 1, id, ok: false, error: { code, message, ...(rollouts ? { rollouts } : {}) } });
    };
    let request: Request;
    try {
      request = parseRequest(JSON.parse(line));
    } catch (error) {
      fail(
        error instanceof BadRequest ? error.id : 0,
        error instanceof BadRequest ? error : 'request is not JSON',
      );
      return;
    }
    const id = request.id;
    try {
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
      }
    } catch (error) {
      fail(id, error);
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
