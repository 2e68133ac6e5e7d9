// The control socket a running msup listens on: one per project, mode 0600 in a folder of the user's
// own, a stale one replaced.
import { chmodSync, existsSync, lstatSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { isMsupError, MsupError } from '../errors.js';
import type { StreamName } from '../log/tail.js';
import { ownedByMe, privateDir } from '../private-files.js';
import { HELD_TAILS_BYTES, HeldTails, TAIL_CHUNK_BYTES } from './held-tails.js';
import {
  BadRequest,
  controlSocketPaths,
  encode,
  FOLLOW_TAIL_MAX,
  MAX_SOCKET_PATH,
  onLines,
  parseRequest,
  type Request,
  type Response,
  type SkippedRecord,
  type SkipReason,
  type StatusV1,
} from './protocol.js';

/** The live lines held for a follower that does not read (a paused pager); past it, they are dropped. */
const FOLLOW_BUFFER_BYTES = 1024 * 1024;

/**
 * The most followers (`follow` requests, as `msup logs -f` makes) served at once; one more is refused
 * with MSUP_CONTROL. Each may hold FOLLOW_BUFFER_BYTES of live lines, and they were not bounded: 60 that
 * did not read, following a busy service, held about 90 MB of msup's memory.
 */
export const MAX_FOLLOWERS = 64;

export interface ControlHandler {
  status(): Promise<StatusV1>;
  restart(service: string | undefined): Promise<unknown>;
  scale(counts: Record<string, number>): Promise<unknown>;
  stop(): Promise<void>;
  /**
   * Sends each new output line of the service (or all) until the returned function is called; with
   * `stream`, only the records of that stream (`inStream`).
   */
  follow(service: string | undefined, send: (record: unknown) => void, stream?: StreamName): () => void;
  /**
   * The last `lines` records (of the service, or all) logged before `onCut` was called: a record
   * logged before that tick is in the tail, a later one is sent live by `follow`, so each is in one
   * of the two, once. Called in the tick that `follow` subscribed in; `onCut` may come later (when
   * the tail's turn comes). Rejects once `signal` aborts (the client left). With `stream`, the last
   * `lines` records of that stream.
   */
  tail?(
    service: string | undefined,
    lines: number,
    options: { signal: AbortSignal; onCut: () => void; stream?: StreamName },
  ): Promise<unknown[]>;
}

/** Settles when the socket can take more, or is closed. */
function drained(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
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

/** The first of the project's socket paths whose folder is (or can be made) this user's only. */
function privateSocketPath(root: string): string {
  const paths = controlSocketPaths(root);
  // Every place is too long (the last is then the one given): listen would fail, so say why instead.
  const longest = paths.at(-1) as string;
  const bytes = Buffer.byteLength(longest);
  if (bytes >= MAX_SOCKET_PATH) {
    throw new MsupError(
      'MSUP_UNSAFE_PATH',
      `the control socket's path ${longest} is ${bytes} bytes, too long for a unix socket (at most ${MAX_SOCKET_PATH - 1}); set TMPDIR or XDG_RUNTIME_DIR to a shorter folder of your own, or use a shorter project path`,
    );
  }
  for (const [i, candidate] of paths.entries()) {
    const dir = path.dirname(candidate);
    const last = i === paths.length - 1;
    // $XDG_RUNTIME_DIR is used only when it exists (the login session made it); the rest is made here.
    if (!last && !existsSync(path.dirname(dir))) continue;
    try {
      privateDir(dir);
      return candidate;
    } catch (error) {
      if (!last) continue;
      if (!isMsupError(error, 'MSUP_UNSAFE_PATH')) throw error;
      throw new MsupError(
        'MSUP_UNSAFE_PATH',
        `${error.message}. The control socket's path in the project is too long for a unix socket; set TMPDIR or XDG_RUNTIME_DIR to a folder of your own, or use a shorter project path`,
        { cause: error },
      );
    }
  }
  throw new MsupError('MSUP_CONTROL', `no folder for the control socket of ${root}`);
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
  readonly #tails: HeldTails;

  private constructor(
    socketPath: string,
    handler: ControlHandler,
    onError: (error: Error) => void,
    heldTailsBytes: number,
  ) {
    this.path = socketPath;
    this.#handler = handler;
    this.#tails = new HeldTails(heldTailsBytes);
    this.#server = net.createServer((socket) => this.#connection(socket));
    // Once listening, an error is a failed accept (EMFILE, ENFILE): reported (once per 10 s), and msup
    // goes on; libuv keeps accepting once descriptors are free again.
    let reportedAt = Number.NEGATIVE_INFINITY;
    this.#server.on('error', (error) => {
      if (!this.#server.listening || Date.now() - reportedAt < 10_000) return;
      reportedAt = Date.now();
      onError(error);
    });
  }

  /**
   * Listens on the project's control socket (`controlSocketPaths`): in a folder only this user can
   * write, checked first (MSUP_UNSAFE_PATH when another user owns it). A socket file left by a crashed
   * run is replaced; one that answers is another msup (MSUP_ALREADY_RUNNING).
   * `onError`: a connection that could not be accepted (msup out of file descriptors).
   * `heldTailsBytes`: the bound on the followers' tails held while they are sent (HELD_TAILS_BYTES).
   */
  static async open(
    root: string,
    handler: ControlHandler,
    onError: (error: Error) => void = () => {},
    { heldTailsBytes = HELD_TAILS_BYTES }: { heldTailsBytes?: number } = {},
  ): Promise<ControlServer> {
    const socketPath = privateSocketPath(root);
    const control = new ControlServer(socketPath, handler, onError, heldTailsBytes);
    // A failure of the socket itself (EACCES, a file removed meanwhile) is msup's control failing: coded.
    const failed = (error: unknown) =>
      isMsupError(error)
        ? error
        : new MsupError(
            'MSUP_CONTROL',
            `cannot listen on the control socket ${socketPath}: ${(error as Error).message}`,
            { cause: error },
          );
    try {
      await listen(control.#server, socketPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw failed(error);
      try {
        await control.#replace(socketPath, error);
      } catch (error) {
        throw failed(error);
      }
    }
    try {
      chmodSync(socketPath, 0o600);
    } catch (error) {
      control.#server.close();
      throw failed(error);
    }
    return control;
  }

  /** The socket file is there: another user's (refused), another msup's (refused), or a crashed run's (replaced). */
  async #replace(socketPath: string, inUse: unknown): Promise<void> {
    const owner = lstatSync(socketPath).uid;
    if (!ownedByMe(owner)) {
      throw new MsupError(
        'MSUP_UNSAFE_PATH',
        `${socketPath} belongs to another user (uid ${owner}), so msup will not use it; remove it`,
      );
    }
    if (await isInUse(socketPath)) {
      throw new MsupError('MSUP_ALREADY_RUNNING', `another msup answers on ${socketPath}`, {
        cause: inUse,
      });
    }
    rmSync(socketPath, { force: true }); // left by a crashed run
    await listen(this.#server, socketPath);
  }

  /** Bytes of the followers' tails held now, waiting for their readers (at most `heldTailsBytes`). */
  get heldTailsBytes(): number {
    return this.#tails.bytes;
  }

  #connection(socket: net.Socket): void {
    socket.on('error', () => {});
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      this.#followers.delete(socket);
    });
    const unsubscribes: (() => void)[] = [];
    socket.on('close', () => {
      for (const stop of unsubscribes) {
        stop();
        this.#subscriptions.delete(stop);
      }
    });
    // One request at a time per connection, in order: reading pauses while one is answered, and while
    // its answer waits for the client to read it. A client that sends without reading (or without end)
    // then waits for msup, instead of msup piling up requests and answers for it.
    const queue: string[] = [];
    let busy = false;
    const next = async () => {
      busy = true;
      // A client that is gone (or a connection that `stop` ended) gets no more work done for it.
      while (queue.length > 0 && !socket.destroyed && !socket.writableEnded) {
        const line = queue.shift() as string;
        // #request answers every failure itself; the catch is a last guard so no message can end msup.
        await this.#request(socket, line, unsubscribes).catch(() => socket.destroy());
        if (socket.writableNeedDrain) await drained(socket);
      }
      queue.length = 0;
      busy = false;
      if (!socket.destroyed) socket.resume();
    };
    onLines(socket, (line) => {
      queue.push(line);
      socket.pause();
      if (!busy) void next();
    });
  }

  async #request(socket: net.Socket, line: string, unsubscribes: (() => void)[]): Promise<void> {
    const send = (message: Response) => {
      if (!socket.destroyed && !socket.writableEnded) socket.write(encode(message));
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
        case 'ping':
          send({ v: 1, id, ok: true, result: null });
          break;
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
          // Counted by subscription: a second follow on a connection holds as much as one on its own.
          if (this.#subscriptions.size >= MAX_FOLLOWERS) {
            throw new MsupError(
              'MSUP_CONTROL',
              `too many followers: ${MAX_FOLLOWERS} already get the live lines (msup logs -f), the most msup serves at once; end one of them, or read the log files with msup logs -n N (without -f)`,
            );
          }
          // A follower that does not read (a paused pager) gets lines dropped, then told how many.
          let skipped = 0;
          const line = (record: unknown) => encode({ v: 1, id, event: 'line', record });
          const notice = (lines: number, reason: SkipReason) =>
            line({ kind: 'skipped', lines, reason } satisfies SkippedRecord);
          const skippedNotice = () => {
            if (skipped > 0 && !socket.destroyed && !socket.writableEnded)
              socket.write(notice(skipped, 'slow'));
            skipped = 0;
          };
          // Told once what waited has gone, not only before the next line: after a burst a service may
          // write nothing for hours, and its follower took the end of what it got for the end of the output.
          let noticeWaits = false;
          const noticeOnDrain = () => {
            if (noticeWaits) return;
            noticeWaits = true;
            socket.once('drain', () => {
              noticeWaits = false;
              skippedNotice();
            });
          };
          // With `lines`, the live lines wait (up to the same bound) while the tail is read and sent.
          const handler = this.#handler;
          const lines = handler.tail ? Math.min(request.lines ?? 0, FOLLOW_TAIL_MAX) : 0;
          let waiting: string[] | undefined = lines > 0 ? [] : undefined;
          let waitingBytes = 0;
          const { stream } = request;
          const stop = handler.follow(
            request.service,
            (record) => {
              if (socket.destroyed || socket.writableEnded) return;
              if (waiting) {
                if (waitingBytes > FOLLOW_BUFFER_BYTES) skipped++;
                else {
                  const text = line(record);
                  waiting.push(text);
                  waitingBytes += text.length;
                }
                return;
              }
              if (socket.writableLength > FOLLOW_BUFFER_BYTES) {
                skipped++;
                noticeOnDrain();
                return;
              }
              skippedNotice();
              socket.write(line(record));
            },
            stream,
          );
          unsubscribes.push(stop);
          this.#subscriptions.add(stop);
          this.#followers.add(socket);
          // `tail: true`: the recent records come first on this connection (an older msup answers null).
          // `stream`: only that stream's records come (an older msup ignores the field: it sends them all).
          const result = { ...(waiting ? { tail: true } : {}), ...(stream ? { stream } : {}) };
          send({ v: 1, id, ok: true, result: Object.keys(result).length > 0 ? result : null });
          if (!waiting || !handler.tail) return;
          // Asked in the tick of the subscription. The live lines before the cut are in the tail: dropped
          // here, so the junction has no gap and no record twice.
          const cut = () => {
            waiting = [];
            waitingBytes = 0;
            skipped = 0;
          };
          // A client that left stops its tail (or its turn is skipped): it no longer delays the others.
          const gone = new AbortController();
          const abort = () => gone.abort();
          socket.once('close', abort);
          if (socket.destroyed) abort();
          // A tail that cannot be read (a log file unreadable, EIO) is told where it would have been: with
          // the live lines alone, its follower would take the missing lines for none. A client that left is not.
          let unreadable: SkippedRecord | undefined;
          let recent: unknown[] | undefined = await handler
            .tail(request.service, lines, { signal: gone.signal, onCut: cut, ...(stream ? { stream } : {}) })
            .catch((error: unknown): unknown[] => {
              if (!gone.signal.aborted) {
                const message = error instanceof Error ? error.message : String(error);
                unreadable = { kind: 'skipped', lines, reason: 'unreadable', error: message };
              }
              return [];
            })
            .finally(() => socket.off('close', abort));
          const left = () => socket.destroyed || socket.writableEnded;
          // The tail is held encoded, with every other follower's (HeldTails: bounded together), and
          // sent as the reader takes it; the records read are let go of once encoded.
          const tail = this.#tails.hold();
          // Let go of in any case: what it holds counts against every follower's bound.
          try {
            for (let at = 0; at < recent.length && !left(); ) {
              const parts: string[] = [];
              for (let size = 0; at < recent.length && size < TAIL_CHUNK_BYTES; ) {
                const text = line(recent[at++]);
                parts.push(text);
                size += text.length;
              }
              tail.add(parts);
              // Encoding 100,000 records takes about 0.2 s: the loop (every front) goes on between chunks.
              await new Promise((resolve) => setImmediate(resolve));
            }
            recent = undefined;
            if (!left() && tail.skippedFirst > 0) socket.write(notice(tail.skippedFirst, 'too-large'));
            for (let chunk = tail.next(); chunk && !left(); chunk = tail.next()) {
              if (!socket.write(chunk)) await drained(socket);
            }
          } finally {
            tail.release();
          }
          if (left()) return;
          if (unreadable) socket.write(line(unreadable));
          // The rest of its tail was dropped for a newer one: where it stops, it is told how many.
          if (tail.dropped > 0) socket.write(notice(tail.dropped, 'evicted'));
          for (const text of waiting) socket.write(text);
          waiting = undefined;
          skippedNotice();
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
