// The control protocol: newline-delimited JSON over the project's unix socket, versioned. Pure, but for
// where the socket is (controlSocketPaths reads the project's real path and this process's places).
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import type { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { MAX_INSTANCES } from '../limits.js';
import type { StreamName } from '../log/tail.js';

export const PROTOCOL_VERSION = 1;

/**
 * The most recent records a follower gets first (`follow` with `lines`): read and held in msup's memory
 * while they are sent, so bounded (and all followers' together: HeldTails). More than that comes from the files (`msup logs -n N` without -f).
 */
export const FOLLOW_TAIL_MAX = 100_000;

/** Where a control socket may be; the defaults are this process's. */
export interface SocketPlaces {
  /** $XDG_RUNTIME_DIR: a folder of this user's only, made by the login session. */
  runtimeDir: string | undefined;
  tmpdir: string;
  uid: number | undefined;
}

const here = (): SocketPlaces => ({
  runtimeDir: process.env.XDG_RUNTIME_DIR,
  tmpdir: os.tmpdir(),
  uid: process.getuid?.(),
});

/** Unix socket paths are limited to about 104 bytes; msup uses those under this many. */
export const MAX_SOCKET_PATH = 100;

/**
 * Where the control socket of the project at `root` may be, in the order msup tries them:
 * `<root>/.msup/control.sock`, or, when that path is too long for a unix socket, `<hash>.sock` in a
 * folder only this user can write: `$XDG_RUNTIME_DIR/msup/`, then `<tmpdir>/msup-<uid>/`.
 * (Not `<tmpdir>/msup-<hash>.sock`: anyone could compute that name and bind it first.)
 */
export function controlSocketPaths(root: string, places: SocketPlaces = here()): string[] {
  // The project's real path, so msup and a command reach it by the same socket whatever symlink either
  // came through: the length that picks the place, and the hash that names the socket, are of one path.
  const real = realPath(root);
  const preferred = path.join(real, '.msup', 'control.sock');
  if (Buffer.byteLength(preferred) < MAX_SOCKET_PATH) return [preferred];
  const name = `${createHash('sha256').update(real).digest('hex').slice(0, 16)}.sock`;
  const paths: string[] = [];
  if (places.runtimeDir && path.isAbsolute(places.runtimeDir)) {
    paths.push(path.join(places.runtimeDir, 'msup', name));
  }
  paths.push(path.join(places.tmpdir, `msup-${places.uid ?? 'user'}`, name));
  const fitting = paths.filter((p) => Buffer.byteLength(p) < MAX_SOCKET_PATH);
  return fitting.length > 0 ? fitting : paths.slice(-1);
}

/** `root` without symlinks; as given (absolute) when it cannot be read, e.g. not made yet. */
function realPath(root: string): string {
  try {
    return realpathSync(root);
  } catch {
    return path.resolve(root);
  }
}

export type Request =
  | { v: 1; id: number; cmd: 'status' }
  /** Answered at once, with nothing: a client's check that msup is alive while a long command works. */
  | { v: 1; id: number; cmd: 'ping' }
  | { v: 1; id: number; cmd: 'restart'; service?: string }
  | { v: 1; id: number; cmd: 'scale'; counts: Record<string, number> }
  | { v: 1; id: number; cmd: 'stop' }
  /**
   * `lines`: first the last so many records of the log files, then the live ones, none missed or twice.
   * `stream`: only the records of that stream (`inStream`), `lines` counting those; the answer's `stream`
   * says it was applied (an msup before it ignores the field, and sends every record).
   */
  | { v: 1; id: number; cmd: 'follow'; service?: string; lines?: number; stream?: StreamName };

/**
 * Why a follower did not get some lines (`SkippedRecord.reason`):
 * - `slow`: it read too slowly: more than 1 MB of live lines waited for it (or for its recent records to go);
 * - `evicted`: the rest of its recent records was dropped to make room for another follower's (HeldTails:
 *   it took from its tail least recently);
 * - `too-large`: its recent records alone were more than msup holds for all followers (HELD_TAILS_BYTES):
 *   the oldest of them are left out, the newest sent;
 * - `unreadable`: its recent records could not be read from the log files (`error` says why).
 */
export type SkipReason = 'slow' | 'evicted' | 'too-large' | 'unreadable';

/**
 * A record of `follow` that stands, where they would have been, for `lines` the follower does not get
 * (for `unreadable`, how many were asked for). An older msup sends no `reason` (nor `unreadable`
 * records): a client takes a missing one for `slow`, the most common.
 */
export interface SkippedRecord {
  kind: 'skipped';
  lines: number;
  reason?: SkipReason;
  /**
   * `msup logs` without `-f`, for `unreadable`: the records printed before its read failed (then `lines` is
   * how many more, at most, were asked for and not printed).
   */
  shown?: number;
  error?: string;
}

export type Response =
  | { v: 1; id: number; ok: true; result: unknown }
  | { v: 1; id: number; ok: false; error: { code: string; message: string; rollouts?: readonly unknown[] } }
  | { v: 1; id: number; event: 'line'; record: unknown };

export interface ExitSummary {
  code: number | null;
  signal: string | null;
  at: string;
  /** Why it ended, where the runtime knows (`OOMKilled`; `removed outside msup`, with no code or signal). */
  reason?: string;
  /** Why it could not start at all. */
  error?: string;
  /** msup stopped it for its health (liveness failed, not ready in time): a failure whatever its code. */
  unhealthy?: true;
}

export interface InstanceStatus {
  index: number;
  /** The runtime it runs on. */
  runtime: string;
  /** The runtime's id of the current incarnation (`p4242`, a container's name). */
  id: string | null;
  pid: number | null;
  endpoint: { host: string; port: number } | null;
  port: number | null;
  state: string;
  ready: boolean;
  restarts: number;
  uptimeMs: number | null;
  /** Percent of one core over a short sample; null when unknown. */
  cpuPercent: number | null;
  memoryBytes: number | null;
  lastExit: ExitSummary | null;
  /** The last readiness probe's result. */
  lastProbe: { ok: boolean; detail: string; at: string } | null;
  /** What the instance's runtime says of it beyond these fields, where it says anything. */
  details?: Record<string, unknown>;
  /** Waiting for a dependency that will not get there by itself: why (InstanceInfo.blocked). */
  blocked?: string;
}

export interface ServiceStatus {
  name: string;
  url: string | null;
  instances: InstanceStatus[];
}

/** What `msup status --json` prints: version 1. */
export interface StatusV1 {
  version: 1;
  project: string;
  configFile: string | null;
  /** The shared front's URL (`proxy.port`), or null without one. */
  sharedFront: string | null;
  /** The dashboard's URL with this run's token, or null without an admin listener (absent before msup 0.2). */
  dashboard?: string | null;
  pid: number;
  startedAt: string;
  /** Every instance ready (or finished cleanly). */
  ready: boolean;
  services: ServiceStatus[];
}

/** A request line that is JSON but not a request msup knows: its `id` (0 when it has none) and why. */
export class BadRequest extends Error {
  readonly id: number;

  constructor(id: number, message: string) {
    super(message);
    this.id = id;
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks the shape of a parsed request line, whatever it is (`null`, an array, a number, an object
 * with fields of the wrong type): a Request, or a BadRequest that says what is wrong.
 */
export function parseRequest(value: unknown): Request {
  if (!isObject(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
    throw new BadRequest(0, `expected a request object, got ${got}`);
  }
  const id = Number.isSafeInteger(value.id) ? (value.id as number) : 0;
  if (value.v !== PROTOCOL_VERSION) {
    const v = typeof value.v === 'number' ? value.v : JSON.stringify(value.v ?? null);
    throw new BadRequest(id, `protocol version ${v} is not supported (this msup speaks ${PROTOCOL_VERSION})`);
  }
  if (!Number.isSafeInteger(value.id)) throw new BadRequest(0, 'expected "id" to be an integer');
  const service = value.service;
  if (service !== undefined && typeof service !== 'string') {
    throw new BadRequest(id, 'expected "service" to be a service name');
  }
  switch (value.cmd) {
    case 'status':
    case 'ping':
    case 'stop':
      return { v: 1, id, cmd: value.cmd };
    case 'restart':
      return { v: 1, id, cmd: value.cmd, ...(service === undefined ? {} : { service }) };
    case 'follow': {
      const lines = value.lines;
      if (lines !== undefined && !(Number.isSafeInteger(lines) && (lines as number) >= 0)) {
        throw new BadRequest(id, 'expected "lines" to be a whole number');
      }
      const stream = value.stream;
      if (stream !== undefined && stream !== 'stdout' && stream !== 'stderr') {
        throw new BadRequest(id, 'expected "stream" to be "stdout" or "stderr"');
      }
      return {
        v: 1,
        id,
        cmd: 'follow',
        ...(service === undefined ? {} : { service }),
        ...(lines === undefined ? {} : { lines: lines as number }),
        ...(stream === undefined ? {} : { stream }),
      };
    }
    case 'scale': {
      const counts = value.counts;
      if (!isObject(counts) || Object.keys(counts).length === 0) {
        throw new BadRequest(id, 'expected "counts" to be an object of service names and counts');
      }
      for (const [name, count] of Object.entries(counts)) {
        if (!Number.isInteger(count) || (count as number) < 0 || (count as number) > MAX_INSTANCES) {
          throw new BadRequest(
            id,
            `scale ${name}: expected a whole number from 0 to ${MAX_INSTANCES}, got ${JSON.stringify(count) ?? 'nothing'}`,
          );
        }
      }
      return { v: 1, id, cmd: 'scale', counts: counts as Record<string, number> };
    }
    default:
      throw new BadRequest(id, `unknown command ${JSON.stringify(value.cmd) ?? '(none)'}`);
  }
}

export function encode(message: Request | Response): string {
  return `${JSON.stringify(message)}\n`;
}

/** The longest request line msup reads: a request is small, so a longer one is cut off. */
export const MAX_REQUEST_LINE = 1_000_000;

/**
 * Reads newline-delimited messages from a socket. A peer whose line grows past `maxLine` characters
 * (default MAX_REQUEST_LINE) is cut off: `onTooLong`, by default the socket destroyed. A line is looked
 * for in each chunk only, so a long one (a large status answer) costs its length, not its square.
 */
export function onLines(
  socket: Socket,
  onLine: (line: string) => void,
  {
    maxLine = MAX_REQUEST_LINE,
    onTooLong = () => socket.destroy(),
  }: { maxLine?: number; onTooLong?: () => void } = {},
): void {
  socket.setEncoding('utf8');
  let parts: string[] = [];
  let size = 0;
  socket.on('data', (chunk: string) => {
    let start = 0;
    for (let newline = chunk.indexOf('\n'); newline !== -1; newline = chunk.indexOf('\n', start)) {
      const piece = chunk.slice(start, newline);
      const line = parts.length > 0 ? parts.join('') + piece : piece;
      parts = [];
      size = 0;
      start = newline + 1;
      if (line.trim() !== '') onLine(line);
      if (socket.destroyed) return;
    }
    if (start < chunk.length) {
      parts.push(start === 0 ? chunk : chunk.slice(start));
      size += chunk.length - start;
    }
    if (size > maxLine) {
      parts = [];
      size = 0;
      onTooLong();
    }
  });
}
