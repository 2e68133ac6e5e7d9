// Reads the last records of the log files in .msup/logs (current and rotated), reading each file from its end.
import { type FileHandle, open, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { OutputLine } from '../types.js';

/** The file of msup's own events (a service named `msup` shares it; each line says which it is). */
export const EVENTS_LOG = 'msup';

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

/** `msup logs --out` / `--err`: the output lines of one stream (`OutputLine.stream`). */
export type StreamName = OutputLine['stream'];

/**
 * Whether a record is of `stream`: an output line written to it; of msup's own events, those of level
 * `warn` and `error` are taken for `stderr` (what went wrong, as a service's stderr), none for `stdout`.
 */
export function inStream(
  record: { kind: 'output'; stream: string } | { kind: 'event'; level: string },
  stream: StreamName,
): boolean {
  if (record.kind === 'output') return record.stream === stream;
  return stream === 'stderr' && (record.level === 'warn' || record.level === 'error');
}

export interface TailOptions {
  /** One service's output only (no msup events); without it, every log merged by time, msup's events included. */
  service?: string;
  /**
   * The records of one stream only (`inStream`): `lines` counts those, so a log is read back as far as
   * they reach (its other records skipped as they are read, never held).
   */
  stream?: StreamName;
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

/** A log file open for reading, up to the size it had then (a running msup may append meanwhile). */
interface OpenedFile {
  handle: FileHandle;
  size: number;
}

/** An accepted record, where its line starts in its file, and which of its log's files (in `LogBackwards.files`). */
interface Found {
  record: LogFileRecord;
  at: number;
  file: number;
}

/**
 * Opens `file`, unless it is missing or in `seen` (its device and inode: read already under another name).
 * Any other failure (EACCES, a link loop) is the caller's to tell, or its reader would take the missing
 * lines for no lines.
 */
async function openOnce(file: string, seen: Set<string>): Promise<OpenedFile | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if (isMissing(error)) return undefined; // gone since the folder was listed (rotated, deleted)
    throw error;
  }
  try {
    const stat = await handle.stat();
    // A running msup rotated the files while they were read (web.log became web.log.1 once read): the
    // same records again, a second time in the tail, and as many older ones left out.
    const identity = `${stat.dev}:${stat.ino}`;
    if (seen.has(identity)) {
      await handle.close();
      return undefined;
    }
    seen.add(identity);
    return { handle, size: stat.size };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * What a reader accepts: `accept`, and, for a service's log read for one stream, `mark`, the field as the
 * writer stores it (`"stream":"stderr"`), which a line it can accept has in its text: the others are
 * skipped before JSON.parse (`msup logs -f --err` with rare stderr lines reads back through every file).
 * A line with the mark is still parsed and accepted by `accept` (the mark can be inside another field).
 */
interface Accepting {
  accept: (record: LogFileRecord) => boolean;
  mark: Buffer | undefined;
}

/** The field of a stream as `LogFiles.write` stores it: JSON.stringify, no spaces. */
const streamMark = (stream: StreamName) => Buffer.from(`"stream":${JSON.stringify(stream)}`);

/** One stored line → its record, pushed to `into` when it is one and `accept` takes it. */
function takeLine(bytes: Buffer, at: number, file: number, { accept, mark }: Accepting, into: Found[]): void {
  if (bytes.length === 0) return;
  if (mark && !bytes.includes(mark)) return;
  const record = parseLogLine(bytes.toString('utf8'));
  if (record && accept(record)) into.push({ record, at, file });
}

/** The accepted records of an open file, newest first, a chunk's worth at a time, reading backwards. */
async function* fileBackwards(
  opened: OpenedFile,
  file: number,
  accept: Accepting,
  signal: AbortSignal | undefined,
  chunkBytes: number,
): AsyncGenerator<Found[]> {
  let position = opened.size;
  let carry = Buffer.alloc(0);
  while (position > 0) {
    signal?.throwIfAborted();
    const length = Math.min(chunkBytes, position);
    position -= length;
    const chunk = Buffer.alloc(length);
    const { bytesRead } = await opened.handle.read(chunk, 0, length, position);
    carry = Buffer.concat([chunk.subarray(0, bytesRead), carry]);
    const found: Found[] = [];
    let end = carry.length;
    for (let nl = carry.lastIndexOf(10, end - 1); nl !== -1; ) {
      takeLine(carry.subarray(nl + 1, end), position + nl + 1, file, accept, found);
      end = nl;
      nl = end === 0 ? -1 : carry.lastIndexOf(10, end - 1);
    }
    carry = carry.subarray(0, end);
    if (found.length > 0) yield found;
  }
  const first: Found[] = [];
  takeLine(carry, 0, file, accept, first);
  if (first.length > 0) yield first;
}

/**
 * The accepted records of an open file from byte `from` (a line's start) to the size it had when opened,
 * oldest first, a chunk's worth at a time: what `fileBackwards` gives from there, in the other order.
 */
async function* fileForwards(
  opened: OpenedFile,
  from: number,
  accept: Accepting,
  signal: AbortSignal | undefined,
  chunkBytes: number,
): AsyncGenerator<Found[]> {
  let position = from;
  let carry = Buffer.alloc(0);
  while (position < opened.size) {
    signal?.throwIfAborted();
    const length = Math.min(chunkBytes, opened.size - position);
    const chunk = Buffer.alloc(length);
    const { bytesRead } = await opened.handle.read(chunk, 0, length, position);
    if (bytesRead === 0) break; // cut shorter since (truncated): the rest is gone
    position += bytesRead;
    carry = Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
    const found: Found[] = [];
    let start = 0;
    for (let nl = carry.indexOf(10); nl !== -1; nl = carry.indexOf(10, start)) {
      takeLine(carry.subarray(start, nl), 0, 0, accept, found);
      start = nl + 1;
    }
    carry = carry.subarray(start);
    if (found.length > 0) yield found;
  }
  const last: Found[] = [];
  takeLine(carry, 0, 0, accept, last);
  if (last.length > 0) yield last;
}

/** What `streamLogTail` holds at most, counted for its callers' checks: records read and not yet given. */
export interface TailStats {
  held: number;
  mostHeld: number;
}

/** Takes records one at a time from batches (newest or oldest first), reading the next batch only when needed. */
class Batches {
  readonly #batches: AsyncGenerator<Found[]>;
  readonly #stats: TailStats | undefined;
  #batch: Found[] = [];
  #at = 0;
  /** The next record's time (ms), or undefined once there are no more. */
  time: number | undefined;

  constructor(batches: AsyncGenerator<Found[]>, stats?: TailStats) {
    this.#batches = batches;
    this.#stats = stats;
  }

  /** Counts the records held (read, not taken) when there are stats to keep. */
  #hold(records: number): void {
    const stats = this.#stats;
    if (!stats) return;
    stats.held += records;
    stats.mostHeld = Math.max(stats.mostHeld, stats.held);
  }

  /** Reads on until a record is there to take, or there are no more; sets `time`. */
  fill(): Promise<void> | undefined {
    if (this.#at < this.#batch.length) {
      this.#timeOfNext();
      return undefined;
    }
    return (async () => {
      while (this.#at >= this.#batch.length) {
        const next = await this.#batches.next();
        if (next.done) {
          this.#batch = [];
          this.#at = 0;
          this.time = undefined;
          return;
        }
        this.#batch = next.value;
        this.#at = 0;
        this.#hold(this.#batch.length);
      }
      this.#timeOfNext();
    })();
  }

  #timeOfNext(): void {
    const time = Date.parse((this.#batch[this.#at] as Found).record.time);
    this.time = Number.isNaN(time) ? Number.NEGATIVE_INFINITY : time; // no time: taken as the oldest
  }

  /** Takes the next record; `fill()` before the one after. */
  take(): Found {
    this.#hold(-1);
    return this.#batch[this.#at++] as Found;
  }

  /** Stops reading (what its generator holds open, it lets go of), and lets go of the records not taken. */
  async close(): Promise<void> {
    this.#hold(this.#at - this.#batch.length);
    this.#batch = [];
    this.#at = 0;
    await this.#batches.return(undefined);
  }
}

/**
 * The accepted records of a log, newest first, through its current and rotated files: read only as
 * far as they are taken (`next()`), so a tail costs the records it shows, not every log's `lines`.
 * With `keepOpen`, the files it opened stay open (`files`, newest first) for a read forwards after it.
 */
class LogBackwards extends Batches {
  /** The files opened, in the order read (current first); with `keepOpen`, closed by `closeFiles()`. */
  readonly files: OpenedFile[];
  readonly accept: Accepting;

  constructor(
    dir: string,
    name: string,
    indexes: readonly number[],
    accept: Accepting,
    signal: AbortSignal | undefined,
    options: ReadOptions,
  ) {
    const files: OpenedFile[] = [];
    super(
      (async function* () {
        const seen = new Set<string>();
        for (const index of indexes) {
          const opened = await openOnce(
            path.join(dir, index === 0 ? `${name}.log` : `${name}.log.${index}`),
            seen,
          );
          if (!opened) continue;
          files.push(opened);
          try {
            yield* fileBackwards(opened, files.length - 1, accept, signal, options.chunkBytes);
          } finally {
            if (!options.keepOpen) await opened.handle.close();
          }
        }
      })(),
      options.stats,
    );
    this.files = files;
    this.accept = accept;
  }

  /** Lets go of the files kept open. */
  async closeFiles(): Promise<void> {
    await Promise.all(this.files.splice(0).map((file) => file.handle.close()));
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

/** How the files are read: a chunk's size, whether they stay open after the backward read, what is held. */
interface ReadOptions {
  chunkBytes: number;
  keepOpen: boolean;
  stats?: TailStats | undefined;
}

/** Where a tail is read: the logs' readers, each accepting what the tail shows of it. */
function tailReaders(
  dir: string,
  logs: Map<string, number[]>,
  options: TailOptions,
  read: ReadOptions,
): LogBackwards[] {
  const { service, signal, stream } = options;
  const ofStream = (r: LogFileRecord) => stream === undefined || inStream(r, stream);
  const mark = stream === undefined ? undefined : streamMark(stream);
  if (service === undefined)
    return [...logs].map(([name, indexes]) => {
      // msup.log's events have no stream, and its warn and error ones are --err's: read without the mark for
      // --err. For --out, with it: no event is stdout, so only the output of a service named `msup` (which
      // shares the file) is parsed.
      const own = name === EVENTS_LOG && stream === 'stderr';
      return new LogBackwards(
        dir,
        name,
        indexes,
        { accept: ofStream, mark: own ? undefined : mark },
        signal,
        read,
      );
    });
  const name = safeName(service);
  const accept = (r: LogFileRecord) => r.kind === 'output' && r.service === service && ofStream(r);
  return [new LogBackwards(dir, name, logs.get(name) ?? [], { accept, mark }, signal, read)];
}

/**
 * Takes the last `want` records of the logs, newest first, each handed to `taken` with its reader. Merged
 * by time from the newest back: each step takes the newest of the logs' next records (on a tie, the log
 * listed last), so each log is read only as far back as the tail reaches.
 */
async function takeNewest(
  readers: readonly LogBackwards[],
  want: number,
  taken: (found: Found, reader: LogBackwards) => void,
): Promise<void> {
  await Promise.all(readers.map((reader) => reader.fill()));
  for (let count = 0; count < want; count++) {
    let newest: LogBackwards | undefined;
    for (const reader of readers) {
      if (reader.time !== undefined && (!newest || reader.time >= (newest.time as number))) newest = reader;
    }
    if (!newest) break;
    taken(newest.take(), newest);
    const reading = newest.fill();
    if (reading) await reading;
  }
}

/**
 * The last `lines` records, oldest first: of one service's current and rotated files, or, without
 * `service`, of every log in `dir` merged by time, msup's events (`service: 'msup'`) included.
 * A missing folder or file reads as empty; one that cannot be read (EACCES, EIO) rejects. It holds
 * every record it returns: for many, `streamLogTail`.
 */
export async function readLogTail(dir: string, options: TailOptions): Promise<LogFileRecord[]> {
  const want = Math.floor(options.lines);
  if (!(want > 0)) return [];
  options.signal?.throwIfAborted();
  const logs = await listLogs(dir);
  const readers = tailReaders(dir, logs, options, { chunkBytes: CHUNK, keepOpen: false });
  const newestFirst: LogFileRecord[] = [];
  try {
    await takeNewest(readers, want, (found) => newestFirst.push(found.record));
  } finally {
    await Promise.all(readers.map((reader) => reader.close()));
  }
  const tail = newestFirst.reverse();
  if (options.service !== undefined) return tail;
  // A log's own times can be out of order (a time given with the record): ordered by time, as before.
  return tail
    .map((record) => ({ record, time: Date.parse(record.time) }))
    .sort((a, b) => a.time - b.time)
    .map(({ record }) => record);
}

/**
 * The records `readLogTail` returns, one at a time, holding a chunk's worth of records per log at most
 * (`msup logs -n 10000000` held the whole folder, records and their output, before printing a line). Two
 * passes: from the end backwards, as `readLogTail`, only to find where each log's part of the tail starts
 * (its files kept open, so a rotation meanwhile changes nothing); then from there forwards, up to where
 * the first pass began, merged by time (on a tie, the log listed first). Records out of time order within
 * their own log (a time given with the record) keep their log's order, where `readLogTail` sorts them.
 */
export async function* streamLogTail(
  dir: string,
  options: TailOptions & { chunkBytes?: number; stats?: TailStats },
): AsyncGenerator<LogFileRecord> {
  const want = Math.floor(options.lines);
  if (!(want > 0)) return;
  const { signal, stats } = options;
  const chunkBytes = options.chunkBytes ?? CHUNK;
  signal?.throwIfAborted();
  const logs = await listLogs(dir);
  const readers = tailReaders(dir, logs, options, { chunkBytes, keepOpen: true, stats });
  const forwards: Batches[] = [];
  try {
    // Where each log's part of the tail starts: the oldest of its records taken.
    const starts = new Map<LogBackwards, Found>();
    await takeNewest(readers, want, (found, reader) => starts.set(reader, found));
    for (const reader of readers) {
      await reader.close(); // the backward read only: its files stay open
      const start = starts.get(reader);
      // Files the second pass does not read are let go of now, not at the end of a print paced by its reader
      // (`| less`): those of a log with no record in the tail, and older ones the first pass opened.
      if (!start) {
        await reader.closeFiles();
        continue;
      }
      const { files, accept } = reader;
      await Promise.all(files.splice(start.file + 1).map((file) => file.handle.close()));
      const batches = async function* () {
        for (let file = start.file; file >= 0; file--) {
          const from = file === start.file ? start.at : 0;
          yield* fileForwards(files[file] as OpenedFile, from, accept, signal, chunkBytes);
        }
      };
      forwards.push(new Batches(batches(), stats));
    }
    await Promise.all(forwards.map((reader) => reader.fill()));
    for (;;) {
      let oldest: Batches | undefined;
      for (const reader of forwards) {
        if (reader.time !== undefined && (!oldest || reader.time < (oldest.time as number))) oldest = reader;
      }
      if (!oldest) return;
      yield oldest.take().record;
      const reading = oldest.fill();
      if (reading) await reading;
    }
  } finally {
    await Promise.all(forwards.map((reader) => reader.close()));
    await Promise.all(readers.map((reader) => reader.close().finally(() => reader.closeFiles())));
  }
}
