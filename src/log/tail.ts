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

/** The last `want` accepted records of one file, oldest first, reading backwards in chunks. */
async function tailFile(
  file: string,
  want: number,
  accept: (record: LogFileRecord) => boolean,
  signal: AbortSignal | undefined,
): Promise<LogFileRecord[]> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'r');
  } catch {
    return [];
  }
  const found: LogFileRecord[] = [];
  const take = (bytes: Buffer) => {
    if (bytes.length === 0) return;
    const record = parseLogLine(bytes.toString('utf8'));
    if (record && accept(record)) found.push(record);
  };
  try {
    let position = (await handle.stat()).size;
    let carry = Buffer.alloc(0);
    while (position > 0 && found.length < want) {
      signal?.throwIfAborted();
      const length = Math.min(CHUNK, position);
      position -= length;
      const chunk = Buffer.alloc(length);
      const { bytesRead } = await handle.read(chunk, 0, length, position);
      carry = Buffer.concat([chunk.subarray(0, bytesRead), carry]);
      let end = carry.length;
      for (let nl = carry.lastIndexOf(10, end - 1); nl !== -1 && found.length < want; ) {
        take(carry.subarray(nl + 1, end));
        end = nl;
        nl = end === 0 ? -1 : carry.lastIndexOf(10, end - 1);
      }
      carry = carry.subarray(0, end);
    }
    if (position === 0 && found.length < want) take(carry);
  } finally {
    await handle.close();
  }
  return found.reverse();
}

/** The last `want` accepted records of a log and its rotated files, oldest first. */
async function tailLog(
  dir: string,
  name: string,
  indexes: readonly number[],
  want: number,
  accept: (record: LogFileRecord) => boolean,
  signal: AbortSignal | undefined,
): Promise<LogFileRecord[]> {
  const parts: LogFileRecord[][] = [];
  let have = 0;
  for (const index of indexes) {
    if (have >= want) break;
    const file = path.join(dir, index === 0 ? `${name}.log` : `${name}.log.${index}`);
    const records = await tailFile(file, want - have, accept, signal);
    parts.unshift(records);
    have += records.length;
  }
  return parts.flat();
}

/** The logs in `dir`: name → its file numbers, current (0) first, then rotated, newest first. */
async function listLogs(dir: string): Promise<Map<string, number[]>> {
  const logs = new Map<string, number[]>();
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return logs;
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

/** The names that have a log in `dir` (services, and `msup` for msup's own events). */
export async function loggedNames(dir: string): Promise<string[]> {
  return [...(await listLogs(dir)).keys()];
}

/**
 * The last `lines` records, oldest first: of one service's current and rotated files, or, without
 * `service`, of every log in `dir` merged by time, msup's events (`service: 'msup'`) included.
 * A missing folder or file reads as empty.
 */
export async function readLogTail(dir: string, options: TailOptions): Promise<LogFileRecord[]> {
  const want = Math.floor(options.lines);
  if (!(want > 0)) return [];
  const { signal } = options;
  signal?.throwIfAborted();
  const logs = await listLogs(dir);
  if (options.service !== undefined) {
    const service = options.service;
    const name = safeName(service);
    const accept = (r: LogFileRecord) => r.kind === 'output' && r.service === service;
    return tailLog(dir, name, logs.get(name) ?? [], want, accept, signal);
  }
  const each = await Promise.all(
    [...logs].map(([name, indexes]) => tailLog(dir, name, indexes, want, () => true, signal)),
  );
  const time = (r: LogFileRecord) => Date.parse(r.time);
  return each
    .flat()
    .sort((a, b) => time(a) - time(b))
    .slice(-want);
}
