// Reads the last records of the log files in .msup/logs (current and rotated), reading each file from its end.
import { open, readdir } from 'node:fs/promises';
import path from 'node:path';

/** A line a service instance wrote, as stored in `<service>.log`. */
export interface OutputLogRecord {
  kind: 'output';
  /** ISO 8601. */
  time: string;
  service: string;
  index: number;
  stream: 'stdout' | 'stderr';
  line: string;
  /** Who wrote it when not the app: `'sidecar'`. */
  source?: string;
}

/** One of msup's own events, as stored in `msup.log`; its other fields (its own `service`, `instance`, …) in `fields`. */
export interface EventLogRecord {
  kind: 'event';
  /** ISO 8601. */
  time: string;
  service: 'msup';
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

export type LogFileRecord = OutputLogRecord | EventLogRecord;

export interface TailOptions {
  /** One service's output only (no msup events); without it, every log merged by time, msup's events included. */
  service?: string;
  /** How many records, at most: the last ones. */
  lines: number;
  /** Stops the read (it rejects with the signal's reason): whoever asked is gone. */
  signal?: AbortSignal;
}

const CHUNK = 64 * 1024;

const isMissing = (error: unknown) => {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};
const FILE = /^(.+)\.log(?:\.(\d+))?$/;

/** A service name as a file name (config validation already allows only these characters). */
export function safeName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_');
  return safe === '' ? '_' : safe;
}

/** One stored line → a record, or undefined for a line that is not one (e.g. cut short by a crash). */
export function parseLogLine(text: string): LogFileRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const { time, service, index, stream, line, level, msg, source, ...fields } = value as Record<
    string,
    unknown
  >;
  if (typeof time !== 'string') return undefined;
  if (
    typeof service === 'string' &&
    typeof index === 'number' &&
    (stream === 'stdout' || stream === 'stderr') &&
    typeof line === 'string'
  )
    return {
      kind: 'output',
      time,
      service,
      index,
      stream,
      line,
      ...(typeof source === 'string' ? { source } : {}),
    };
  if (typeof level === 'string' && typeof msg === 'string') {
    const own = { ...fields };
    if (service !== undefined) own.service = service;
    if (index !== undefined) own.index = index;
    if (stream !== undefined) own.stream = stream;
    if (line !== undefined) own.line = line;
    if (source !== undefined) own.source = source;
    return { kind: 'event', time, service: 'msup', level, msg, fields: own };
  }
  return undefined;
}

/** One of msup's live events (the supervisor's `log` event) as `msup logs` shows it. */
export function eventRecord(record: { level: string; msg: string; time: number } & Record<string, unknown>) {
  const { level, msg, time, ...fields } = record;
  const event: EventLogRecord = {
    kind: 'event',
    time: new Date(time).toISOString(),
    service: 'msup',
    level,
    msg,
    fields,
  };
  return event;
}

/**
 * The accepted records of one file, newest first, a chunk's worth at a time, reading backwards. A file
 * in `seen` (its device and inode) was read already under another name: nothing.
 */
async function* fileBackwards(
  file: string,
  accept: (record: LogFileRecord) => boolean,
  signal: AbortSignal | undefined,
  seen: Set<string>,
): AsyncGenerator<LogFileRecord[]> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    // Gone since the folder was listed (rotated, deleted): nothing to read. Any other failure (EACCES,
    // a link loop) is the caller's to tell, or its reader would take the missing lines for no lines.
    if (isMissing(error)) return;
    throw error;
  }
  const take = (bytes: Buffer, into: LogFileRecord[]) => {
    if (bytes.length === 0) return;
    const record = parseLogLine(bytes.toString('utf8'));
    if (record && accept(record)) into.push(record);
  };
  try {
    const stat = await handle.stat();
    // A running msup rotated the files while they were read (web.log became web.log.1 once read): the
    // same records again, a second time in the tail, and as many older ones left out.
    const identity = `${stat.dev}:${stat.ino}`;
    if (seen.has(identity)) return;
    seen.add(identity);
    let position = stat.size;
    let carry = Buffer.alloc(0);
    while (position > 0) {
      signal?.throwIfAborted();
      const length = Math.min(CHUNK, position);
      position -= length;
      const chunk = Buffer.alloc(length);
      const { bytesRead } = await handle.read(chunk, 0, length, position);
      carry = Buffer.concat([chunk.subarray(0, bytesRead), carry]);
      const found: LogFileRecord[] = [];
      let end = carry.length;
      for (let nl = carry.lastIndexOf(10, end - 1); nl !== -1; ) {
        take(carry.subarray(nl + 1, end), found);
        end = nl;
        nl = end === 0 ? -1 : carry.lastIndexOf(10, end - 1);
      }
      carry = carry.subarray(0, end);
      if (found.length > 0) yield found;
    }
    const first: LogFileRecord[] = [];
    take(carry, first);
    if (first.length > 0) yield first;
  } finally {
    await handle.close();
  }
}

/**
 * The accepted records of a log, newest first, through its current and rotated files: read only as
 * far as they are taken (`next()`), so a tail costs the records it shows, not every log's `lines`.
 */
class LogBackwards {
  readonly #batches: AsyncGenerator<LogFileRecord[]>;
  #batch: LogFileRecord[] = [];
  #at = 0;
  /** The next record's time (ms), or undefined once the log has no more. */
  time: number | undefined;

  constructor(
    dir: string,
    name: string,
    indexes: readonly number[],
    accept: (record: LogFileRecord) => boolean,
    signal: AbortSignal | undefined,
  ) {
    this.#batches = (async function* () {
      const seen = new Set<string>();
      for (const index of indexes) {
        const file = path.join(dir, index === 0 ? `${name}.log` : `${name}.log.${index}`);
        yield* fileBackwards(file, accept, signal, seen);
      }
    })();
  }

  /** Reads on until a record is there to take, or the log has no more; sets `time`. */
  fill(): Promise<void> | undefined {
    if (this.#at < this.#batch.length) {
      this.#timeOfNext();
      return undefined;
    }
    return (async () => {
      while (this.#at >= this.#batch.length) {
        const next = await this.#batches.next();
        if (next.done) {
          this.time = undefined;
          return;
        }
        this.#batch = next.value;
        this.#at = 0;
      }
      this.#timeOfNext();
    })();
  }

  #timeOfNext(): void {
    const time = Date.parse((this.#batch[this.#at] as LogFileRecord).time);
    this.time = Number.isNaN(time) ? Number.NEGATIVE_INFINITY : time; // no time: taken after the others
  }

  /** Takes the next (older) record; `fill()` before the one after. */
  take(): LogFileRecord {
    return this.#batch[this.#at++] as LogFileRecord;
  }

  /** Lets go of its file. */
  async close(): Promise<void> {
    await this.#batches.return(undefined);
  }
}

/** The logs in `dir`: name → its file numbers, current (0) first, then rotated, newest first. A missing folder has none. */
async function listLogs(dir: string): Promise<Map<string, number[]>> {
  const logs = new Map<string, number[]>();
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (error) {
    if (isMissing(error)) return logs;
    throw error;
  }
  for (const entry of entries) {
    const match = FILE.exec(entry);
    if (!match) continue;
    const name = match[1] as string;
    logs.set(name, [...(logs.get(name) ?? []), Number(match[2] ?? 0)]);
  }
  for (const indexes of logs.values()) indexes.sort((a, b) => a - b);
  return logs;
}

/**
 * The names that have a log in `dir` (services, and `msup` for msup's own events); none when the
 * folder cannot be read (reading the tail then says why).
 */
export async function loggedNames(dir: string): Promise<string[]> {
  return [...(await listLogs(dir).catch(() => new Map<string, number[]>())).keys()];
}

/**
 * The last `lines` records, oldest first: of one service's current and rotated files, or, without
 * `service`, of every log in `dir` merged by time, msup's events (`service: 'msup'`) included.
 * A missing folder or file reads as empty; one that cannot be read (EACCES, EIO) rejects.
 */
export async function readLogTail(dir: string, options: TailOptions): Promise<LogFileRecord[]> {
  const want = Math.floor(options.lines);
  if (!(want > 0)) return [];
  const { signal } = options;
  signal?.throwIfAborted();
  const logs = await listLogs(dir);
  const service = options.service;
  const readers =
    service === undefined
      ? [...logs].map(([name, indexes]) => new LogBackwards(dir, name, indexes, () => true, signal))
      : [
          new LogBackwards(
            dir,
            safeName(service),
            logs.get(safeName(service)) ?? [],
            (r) => r.kind === 'output' && r.service === service,
            signal,
          ),
        ];
  // Merged by time from the newest back: each step takes the newest of the logs' next records (on a
  // tie, the log listed last), so each log is read only as far back as the tail reaches.
  const newestFirst: LogFileRecord[] = [];
  try {
    await Promise.all(readers.map((reader) => reader.fill()));
    while (newestFirst.length < want) {
      let newest: LogBackwards | undefined;
      for (const reader of readers) {
        if (reader.time !== undefined && (!newest || reader.time >= (newest.time as number))) newest = reader;
      }
      if (!newest) break;
      newestFirst.push(newest.take());
      const reading = newest.fill();
      if (reading) await reading;
    }
  } finally {
    await Promise.all(readers.map((reader) => reader.close()));
  }
  const tail = newestFirst.reverse();
  if (service !== undefined) return tail;
  // A log's own times can be out of order (a time given with the record): ordered by time, as before.
  return tail
    .map((record) => ({ record, time: Date.parse(record.time) }))
    .sort((a, b) => a.time - b.time)
    .map(({ record }) => record);
}
