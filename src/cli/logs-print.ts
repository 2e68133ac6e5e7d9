// How `msup logs` prints the recent records it reads from the files, what it says when a read fails, and
// the time it puts before each line with --timestamp.
import type { SkippedRecord } from '../control/protocol.js';

const two = (n: number) => String(n).padStart(2, '0');

/**
 * `msup logs --timestamp`: a record's time (ISO) as `pm2 logs --timestamp` prints one without a format,
 * `YYYY-MM-DD-HH:mm:ss` in local time (TZ); a time that is not one, as it is.
 */
export function localTimestamp(time: string): string {
  const at = new Date(time);
  if (Number.isNaN(at.getTime())) return time;
  const date = `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())}`;
  return `${date}-${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}`;
}

/** Where records are printed: whether its reader is gone, and when it has room for more. */
export interface RecordsOut {
  readonly gone: boolean;
  room(): Promise<void>;
}

/**
 * Prints `records` as they are read, at the pace of the reader of `out` (`show` returns false once what
 * waits for it is past its mark). How many were shown; `failure` when the read failed, to show where it
 * stopped (the records before it were printed already).
 */
export async function printRecords(
  records: AsyncIterable<unknown>,
  show: (record: unknown) => boolean,
  out: RecordsOut,
  asked: number,
): Promise<{ shown: number; failure?: SkippedRecord }> {
  let shown = 0;
  try {
    for await (const record of records) {
      if (out.gone) break;
      shown++;
      if (!show(record)) await out.room();
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { shown, failure: unreadable(asked, shown, message) };
  }
  return { shown };
}

/**
 * The record that says a tail of `asked` records could not be read after `shown` of them: `lines`, how many
 * at most are missing (asked for and not shown; the logs may have held fewer), and `shown` when some were.
 */
export function unreadable(asked: number, shown: number, error: string): SkippedRecord {
  return {
    kind: 'skipped',
    lines: Math.max(0, asked - shown),
    reason: 'unreadable',
    ...(shown > 0 ? { shown } : {}),
    error,
  };
}

/** What `msup logs` says of recent records it could not read. */
export function unreadableMessage({ lines, shown, error }: SkippedRecord): string {
  if (!shown) return `msup: the last ${lines} line(s) could not be read: ${error}\n`;
  return `msup: the read stopped after ${shown} line(s): up to ${lines} more, the newest, could not be read: ${error}\n`;
}
