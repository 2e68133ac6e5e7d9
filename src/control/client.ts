// Talking to the running msup of a project over its control socket.
import { lstatSync, type Stats } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ERROR_CODES, type ErrorCode, MsupError } from '../errors.js';
import type { StreamName } from '../log/tail.js';
import { ownedByMe } from '../private-files.js';
import type { RolloutResult } from '../types.js';
import { controlSocketPaths, encode, onLines, type Request, type Response } from './protocol.js';

type Body = Request extends infer R ? (R extends Request ? Omit<R, 'v' | 'id'> : never) : never;

/**
 * The project's control socket, checked before anything is said to it: a socket of this user's, in a
 * folder no one else can write to. Otherwise another local user could answer for msup.
 */
function findSocket(root: string): string {
  const paths = controlSocketPaths(root);
  for (const socketPath of paths) {
    let stat: Stats;
    try {
      stat = lstatSync(socketPath);
    } catch {
      continue;
    }
    const dir = lstatSync(path.dirname(socketPath));
    const problem = !stat.isSocket()
      ? 'is not a socket'
      : !ownedByMe(stat.uid)
        ? `belongs to another user (uid ${stat.uid})`
        : !dir.isDirectory() || !ownedByMe(dir.uid) || (dir.mode & 0o022) !== 0
          ? 'is in a folder another user can write to'
          : undefined;
    if (problem) {
      throw new MsupError(
        'MSUP_UNSAFE_PATH',
        `${socketPath} ${problem}: it may not be msup's, so msup will not talk to it`,
      );
    }
    return socketPath;
  }
  throw new MsupError(
    'MSUP_NOT_RUNNING',
    `no msup is running for ${root} (no control socket at ${paths.join(' or ')})`,
  );
}

function connect(root: string): Promise<net.Socket> {
  let socketPath: string;
  try {
    socketPath = findSocket(root);
  } catch (error) {
    return Promise.reject(error);
  }
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => resolve(socket));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
        reject(
          new MsupError(
            'MSUP_NOT_RUNNING',
            error.code === 'ENOENT'
              ? `no msup is running for ${root} (no control socket at ${socketPath})`
              : // The socket file is there and nothing listens: the msup that made it ended without removing it.
                `no msup is running for ${root} (nothing answers at ${socketPath}: the msup that made it has ended, as after a crash or a kill -9)`,
            { cause: error },
          ),
        );
      } else
        reject(
          new MsupError('MSUP_CONTROL', `cannot reach msup at ${socketPath}: ${error.message}`, {
            cause: error,
          }),
        );
    });
  });
}

/** The longest message the client reads from msup, in characters. */
const MAX_ANSWER_LINE = 256 * 1024 * 1024;

/** Opens a conversation: every message for request `id` goes to `onMessage`. */
async function open(root: string, body: Body, onMessage: (message: Response) => void): Promise<net.Socket> {
  const socket = await connect(root);
  onLines(
    socket,
    (line) => {
      let message: Response;
      try {
        message = JSON.parse(line) as Response;
      } catch {
        socket.destroy(new MsupError('MSUP_CONTROL', 'msup answered something that is not JSON'));
        return;
      }
      if (typeof message !== 'object' || message === null) {
        socket.destroy(new MsupError('MSUP_CONTROL', 'msup answered something that is not a message'));
        return;
      }
      onMessage(message);
    },
    {
      // An answer can be large (the status of thousands of instances is megabytes): far above a request's
      // limit, still bounded so a broken peer cannot fill the memory.
      maxLine: MAX_ANSWER_LINE,
      onTooLong: () =>
        socket.destroy(
          new MsupError(
            'MSUP_CONTROL',
            `msup answered a message over ${MAX_ANSWER_LINE / 1024 / 1024} MB; not read`,
          ),
        ),
    },
  );
  socket.write(encode({ v: 1, id: 1, ...body } as Request));
  return socket;
}

function failure(message: Response): MsupError | undefined {
  if ('ok' in message && !message.ok) {
    const error = (message.error ?? {}) as Partial<typeof message.error>;
    const code = (
      typeof error.code === 'string' && error.code in ERROR_CODES ? error.code : 'MSUP_CONTROL'
    ) as ErrorCode;
    const rollouts = Array.isArray(error.rollouts) ? (error.rollouts as RolloutResult[]) : undefined;
    return new MsupError(
      code,
      String(error.message ?? 'msup answered an error'),
      rollouts ? { rollouts } : {},
    );
  }
  return undefined;
}

/**
 * A connection that failed once open (the running msup ended with the request unread: ECONNRESET; EPIPE)
 * is msup's control failing, not an unexpected error: a coded MSUP_CONTROL, as a close without an answer is.
 */
function lost(error: Error): MsupError {
  if (error instanceof MsupError) return error;
  return new MsupError('MSUP_CONTROL', `the control connection to msup failed: ${error.message}`, {
    cause: error,
  });
}

/** How long a command waits for the running msup to answer (or, for a long command, to show it is alive). */
export const ANSWER_TIMEOUT_MS = 10_000;

/** The errors of `noAnswer`, told apart from the other MSUP_CONTROL failures of a liveness check. */
const unanswered = new WeakSet<Error>();

/** Whether `error` is a command's "msup did not answer within ..." (msup is there, but silent). */
export function isNoAnswer(error: unknown): boolean {
  return error instanceof Error && unanswered.has(error);
}

function noAnswer(ms: number): MsupError {
  const within = ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
  const error = new MsupError(
    'MSUP_CONTROL',
    `msup did not answer within ${within} (it may be stopped, as by kill -STOP, or overloaded)`,
  );
  unanswered.add(error);
  return error;
}

/**
 * One request, one answer. An msup that does not answer (stopped by kill -STOP, stuck) must not leave a
 * script waiting forever. A command may take long while msup works (a `restart`, `scale` or `stop`; a
 * `status` samples usage, which waits for a container's pid), so each time `answerMs` passes without
 * its answer, msup is pinged on another connection: the command goes on waiting while the ping is
 * answered in time. Any answer counts, an error included (an older msup has no `ping`).
 */
export function controlRequest<T>(
  root: string,
  body: Body,
  { answerMs = ANSWER_TIMEOUT_MS }: { answerMs?: number } = {},
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let socket: net.Socket | undefined;
    let timer: NodeJS.Timeout | undefined;
    const settle = (error: Error | undefined, value?: T) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        socket?.destroy();
        reject(error);
      } else resolve(value as T);
    };
    const ping = body.cmd === 'ping';
    const arm = () => {
      timer = setTimeout(() => {
        if (ping || socket === undefined) {
          settle(noAnswer(answerMs));
          return;
        }
        controlRequest<null>(root, { cmd: 'ping' }, { answerMs }).then(
          () => {
            if (!settled) arm();
          },
          (error: unknown) => {
            if (settled) return;
            // No answer in time: msup is not working on it. Gone (a stop removes its socket at the end):
            // the connection closes with msup, or answers first; keep waiting for that.
            if (error instanceof Error && unanswered.has(error)) settle(error);
            else arm();
          },
        );
      }, answerMs);
    };
    arm();
    open(root, body, (message) => {
      const error = failure(message);
      if (error) settle(error);
      else if ('result' in message) settle(undefined, message.result as T);
      socket?.end();
    })
      .then((s) => {
        socket = s;
        if (settled) s.destroy();
        s.on('error', (error) => settle(lost(error)));
        s.on('close', () =>
          settle(new MsupError('MSUP_CONTROL', 'msup closed the control connection without answering')),
        );
      })
      .catch((error: Error) => settle(error));
  });
}

/**
 * A subscription: `onRecord` for each record until `close()`; `done` settles when the connection ends.
 * With `lines`, the last so many records of the log files come first, then the live ones, none missed
 * or twice where they meet; `tail` says msup sent them (an older msup does not: read the files then).
 * With `stream`, only that stream's records (`inStream`), the `lines` last of them; `streamed` says msup
 * applied it (an older msup sends every record: the caller filters them, its `lines` counted before).
 * Resolves once msup has answered (an error it answers rejects). `pause()` stops reading (msup then
 * drops lines for this follower and says how many), `resume()` goes on.
 */
export async function controlFollow(
  root: string,
  options: {
    service?: string | undefined;
    lines?: number;
    stream?: StreamName | undefined;
    answerMs?: number;
  },
  onRecord: (record: unknown) => void,
): Promise<{
  tail: boolean;
  streamed: boolean;
  close(): void;
  pause(): void;
  resume(): void;
  done: Promise<void>;
}> {
  const { service, lines, stream, answerMs = ANSWER_TIMEOUT_MS } = options;
  let answered: (message: Response) => void = () => {};
  const answer = new Promise<Response>((resolve) => {
    answered = resolve;
  });
  let fail: (error: Error) => void = () => {};
  const request = {
    cmd: 'follow',
    ...(service ? { service } : {}),
    ...(lines ? { lines } : {}),
    ...(stream ? { stream } : {}),
  } as const;
  const socket = await open(root, request, (message) => {
    if ('event' in message) onRecord(message.record);
    else {
      answered(message);
      const error = failure(message);
      if (error) fail(error);
    }
  });
  const done = new Promise<void>((resolve, reject) => {
    fail = reject;
    socket.on('error', (error) => reject(lost(error)));
    socket.on('close', () => resolve());
  });
  // The answer comes at once from an msup that works; then lines come when they come.
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), answerMs);
  });
  const first = await Promise.race([answer, done.then(() => undefined), late]).finally(() =>
    clearTimeout(timer),
  );
  if (first === 'late') {
    socket.destroy();
    done.catch(() => {});
    throw noAnswer(answerMs);
  }
  if (!first) throw new MsupError('MSUP_CONTROL', 'msup closed the control connection without answering');
  const error = failure(first);
  if (error) {
    socket.destroy();
    done.catch(() => {});
    throw error;
  }
  const result = 'result' in first ? (first.result as { tail?: unknown; stream?: unknown } | null) : null;
  return {
    tail: result?.tail === true,
    streamed: stream !== undefined && result?.stream === stream,
    close: () => socket.destroy(),
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    done,
  };
}
