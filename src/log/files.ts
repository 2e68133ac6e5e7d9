// Log files on disk (.msup/logs): JSON lines per service and for msup's events, size-rotated, bounded in total.
import {
  closeSync,
  constants,
  createWriteStream,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  type WriteStream,
} from 'node:fs';
import path from 'node:path';
import { type Clock, type TimerHandle, unrefClock } from '../clock.js';
import { openPrivate, privateDir } from '../private-files.js';
import { EVENTS_LOG, type LogFileRecord, readLogTail, safeName, type TailOptions } from './tail.js';

export {
  EVENTS_LOG,
  type EventLogRecord,
  type LogFileRecord,
  loggedNames,
  type OutputLogRecord,
  readLogTail,
  type TailOptions,
} from './tail.js';

export interface LogFilesOptions {
  /** A file is rotated before a write would take it past this size (default 5 MiB). */
  maxFileBytes?: number;
  /** Rotated files kept per log: `<name>.log.1` (newest) to `<name>.log.<keep>` (default 3). */
  keep?: number;
  /** Bound on all files in the folder together; the oldest rotated files go first (default 50 MiB). */
  maxTotalBytes?: number;
  /** The clock for records without a time (default Date.now). */
  now?: () => number;
  /**
   * The clock of the waits: RETRY_OPEN_MS before a failed log is tried again, REPORT_DROPS_MS between two
   * reports of its dropped lines (default: real time, monotonic, with timers that do not keep the process up).
   */
  clock?: Clock;
  /**
   * A file that cannot be opened, renamed or written. Logging goes on without it: a log whose file
   * could not be opened, or failed a write, is tried again RETRY_OPEN_MS (5 s) later.
   */
  onError?: (error: Error) => void;
  /**
   * Lines that follow a write within this many ms are written together when it has passed (default 20):
   * a line after a quiet moment goes out at once, a busy log (a REPORT line per function invocation)
   * costs one write per window instead of one per line. `close()` writes what is left.
   */
  batchMs?: number;
  /**
   * A log's lines waiting to be written (in its batch and in its file's stream) past which its new lines
   * are dropped, and counted, until half of them are written (default 8 MiB): a disk slower than a
   * service's output (or one that stalls) must not grow msup without bound.
   */
  maxQueuedBytes?: number;
  /**
   * Lines of a log (`web`, `msup`) not written: `behind`, dropped past `maxQueuedBytes`, told once the log
   * takes lines again; `failed`, lost with a write that failed (ENOSPC, EFBIG), a file that could not be
   * opened, or while the log waited to be tried again (RETRY_OPEN_MS), told once that wait is over (a line
   * or not). At most
   * once per REPORT_DROPS_MS per log (the rest with a later report), and at `forget` and `close`.
   */
  onDropped?: (log: string, lines: number, why: DropReason) => void;
}

/** Why lines were not written: the disk took less than the output (`behind`), or the file failed (`failed`). */
export type DropReason = 'behind' | 'failed';

export const LOG_FILES_DEFAULTS = {
  maxFileBytes: 5 * 1024 * 1024,
  keep: 3,
  maxTotalBytes: 50 * 1024 * 1024,
  batchMs: 20,
  maxQueuedBytes: 8 * 1024 * 1024,
} as const;

/** Dropped lines of a log are told at most this often (a disk behind a busy service drops many times). */
const REPORT_DROPS_MS = 5000;
/** While a tail is read, the lines held for it may wait up to this many times `maxQueuedBytes`. */
const HELD_FACTOR = 8;

/**
 * A log that could not be opened, or whose write failed, is tried again after this long (the lines
 * meanwhile are lost).
 */
const RETRY_OPEN_MS = 5000;

/**
 * How often, at most, a write first checks that its file is still there under its name (one lstat):
 * one deleted or moved away (`rm web.log`, `rm -rf .msup/logs`) is replaced by a new one.
 */
const CHECK_FILE_MS = 1000;

interface OpenLog {
  name: string;
  stream: WriteStream;
  /** Its descriptor, to see how far the file got when a write failed. */
  fd: number;
  /** The open file's identity, to tell whether its name still leads to it. */
  dev: number;
  ino: number;
  /** When that was last checked (performance.now()). */
  checkedAt: number;
  /** Bytes written and waiting. */
  size: number;
  /**
   * A write that would take `size` past this rotates the file first: maxFileBytes; after a rotation that
   * failed, another maxFileBytes on from the file's size then (tried again then, not at every line).
   */
  rotateAt: number;
  /**
   * The file ended inside a line when it was opened (a write cut short: msup killed in the middle of
   * one, a full disk): the first write ends that line first, or the two made one line that no reader
   * can parse, and the first record written lost.
   */
  cut: boolean;
  /** Lines waiting for the batch window to pass. */
  pending: string[];
  /** Their numbers, in the order logged (LogFiles' count of lines logged when each came). */
  numbers: number[];
  /** Their length together (characters: the bound on what waits needs no exact bytes). */
  pendingLength: number;
  /** When the last write went out (performance.now()). */
  wroteAt: number;
  timer: NodeJS.Timeout | undefined;
  /** The file's size when opened, and what each write that went through added. */
  confirmed: number;
  /**
   * Once a write failed: the bytes of the writes not confirmed yet that are in the file all the same (a
   * full disk takes the start of a write), handed to the failed writes' lines in order.
   */
  landed?: number;
}

const FILE = /^(.+)\.log(?:\.(\d+))?$/;

interface QueuedTail {
  lines: number;
  start: () => void;
}

function iso(time: unknown, now: () => number): string {
  const date = new Date(typeof time === 'number' || typeof time === 'string' ? time : now());
  return Number.isNaN(date.getTime()) ? new Date(now()).toISOString() : date.toISOString();
}

function json(value: Record<string, unknown>): string {
  try {
    return JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === 'bigint') return v.toString();
      if (v instanceof Error) return { name: v.name, message: v.message, ...(v as object) };
      return v;
    });
  } catch {
    return JSON.stringify({ time: value.time, level: value.level, msg: value.msg });
  }
}

/**
 * Whether `file`, the file open as `opened`, ends inside a line. Read through a descriptor of its own
 * (the log's is write-only), never through a link, and only if it is still that file.
 */
function endsInsideLine(file: string, opened: { size: number; dev: number; ino: number }): boolean {
  if (opened.size === 0) return false;
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch {
    return false;
  }
  try {
    const stat = fstatSync(fd);
    if (stat.dev !== opened.dev || stat.ino !== opened.ino) return false;
    const last = Buffer.alloc(1);
    return readSync(fd, last, 0, 1, opened.size - 1) === 1 && last[0] !== 0x0a;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/** Settles once everything written to the stream so far is in its file (or the stream failed). */
function written(stream: WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed) resolve();
    else stream.write('', () => resolve());
  });
}

function ended(stream: WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.closed) return resolve();
    stream.once('close', () => resolve());
    stream.end();
  });
}

/**
 * Appends JSON lines to `<dir>/<service>.log` and `<dir>/msup.log` through write streams (no blocking
 * write per line, and lines close together in one write: `batchMs`; sizes are counted here). Rotation renames `x.log` → `x.log.1` → … → `x.log.<keep>`
 * and then drops the oldest rotated files of any log while the folder is over `maxTotalBytes`. The
 * current files are never deleted, so with many services the folder can pass the bound by up to one
 * `maxFileBytes` per log.
 */
export class LogFiles {
  readonly dir: string;
  readonly maxFileBytes: number;
  readonly keep: number;
  readonly maxTotalBytes: number;
  readonly batchMs: number;
  readonly maxQueuedBytes: number;
  readonly #now: () => number;
  readonly #clock: Clock;
  readonly #onError: (error: Error) => void;
  readonly #onDropped: (log: string, lines: number, why: DropReason) => void;
  /**
   * Per log: lines dropped behind the disk and lines lost to a failed file, not told yet; whether it drops
   * now (until half its queue is written); and when drops were last told.
   */
  readonly #drops = new Map<
    string,
    { lines: number; failed: number; dropping: boolean; toldAt: number; timer?: TimerHandle | undefined }
  >();
  readonly #open = new Map<string, OpenLog>();
  /** Logs that could not be opened, and when (by the clock): tried again after RETRY_OPEN_MS (EMFILE passes). */
  readonly #failed = new Map<string, number>();
  /**
   * Per failed log, the timer that tells its lost lines once RETRY_OPEN_MS has passed, whether or not a
   * line comes then (a service that died of the full disk, or went quiet, had them told only at the stop).
   */
  readonly #retryTimers = new Map<string, TimerHandle>();
  readonly #ending = new Set<Promise<void>>();
  /**
   * Per log, the streams of its files let go of (rotated, deleted) and still writing: what they hold
   * counts against `maxQueuedBytes` too (else each rotation behind a slow disk started the count again).
   */
  readonly #retired = new Map<string, Set<WriteStream>>();
  /** Sizes of rotated files as counted here: their last writes may not be on disk yet. */
  readonly #rotatedSizes = new Map<string, number>();
  /** A tail is being read (`tail()`): while it is, lines wait in `pending` and nothing is written or rotated. */
  #holding = 0;
  /**
   * Tails run one after another: one writes its lines only once the read of the one before is done.
   * A tail's turn is taken (its cut made, its read going on) while this is true.
   */
  #reading = false;
  /**
   * Tails waiting for their turn. The one asking for the fewest lines goes first (in the order asked
   * among equals): a follower asking for 50 lines does not wait behind the reads of 100,000-line tails
   * asked before it (a follower that does not read still costs its read).
   */
  readonly #queued: QueuedTail[] = [];
  /** Lines taken per log name since the start, and lines handed to a file (or lost with one): what waits is between. */
  readonly #taken = new Map<string, number>();
  readonly #handed = new Map<string, number>();
  /** Logs to let go of (`forget`) once no tail is being read. */
  readonly #forgetting = new Set<string>();
  /** Lines not written since these files were made (`notWritten`). */
  #notWritten = 0;
  /** Lines logged since these files were made: the last one's number. */
  #logged = 0;
  /**
   * The `settled()` calls waiting: the number of the last line logged before each, and how many of the
   * lines up to it are not written (all those lost before the call, and those of them lost since).
   */
  readonly #settling = new Set<{ upTo: number; notWritten: number }>();
  /** `settled()` calls waiting for the tail being read to let go of the lines it holds. */
  #unheld: (() => void)[] = [];
  #started = false;
  #closed: Promise<void> | undefined;

  constructor(dir: string, options: LogFilesOptions = {}) {
    this.dir = path.resolve(dir);
    this.maxFileBytes = options.maxFileBytes ?? LOG_FILES_DEFAULTS.maxFileBytes;
    this.keep = Math.max(0, options.keep ?? LOG_FILES_DEFAULTS.keep);
    this.maxTotalBytes = options.maxTotalBytes ?? LOG_FILES_DEFAULTS.maxTotalBytes;
    this.batchMs = Math.max(0, options.batchMs ?? LOG_FILES_DEFAULTS.batchMs);
    this.maxQueuedBytes = options.maxQueuedBytes ?? LOG_FILES_DEFAULTS.maxQueuedBytes;
    this.#now = options.now ?? Date.now;
    this.#clock = options.clock ?? unrefClock;
    this.#onError = options.onError ?? (() => {});
    this.#onDropped = options.onDropped ?? (() => {});
  }

  /** One line a service instance wrote. */
  write(record: {
    service: string;
    index: number;
    stream: 'stdout' | 'stderr';
    line: string;
    source?: string;
    time?: number;
  }): void {
    const { service, index, stream, line, source } = record;
    this.#append(
      safeName(service),
      json({
        time: iso(record.time, this.#now),
        service,
        index,
        stream,
        line,
        ...(source ? { source } : {}),
      }),
    );
  }

  /** One of msup's own events, e.g. the supervisor's `log` event: `{ level, msg, time?, ...fields }`. */
  event(record: Record<string, unknown>): void {
    const { time, level, msg, ...fields } = record;
    this.#append(
      EVENTS_LOG,
      json({
        time: iso(time, this.#now),
        level: typeof level === 'string' ? level : 'info',
        msg: typeof msg === 'string' ? msg : String(msg ?? ''),
        ...fields,
      }),
    );
  }

  /**
   * The last records logged before the tail's cut (`readLogTail` of this folder), the lines still
   * waiting for their batch included. Tails run one at a time, the fewest lines first (then in the
   * order asked); `onCut` is called in the tick this one's turn comes, and the records are exactly what
   * was logged before that tick: a follower that keeps the live lines from then on (and drops those it
   * had before) gets every line once, here or live. While a tail is read, later lines wait (as in a
   * batch: written, and any rotation done, once it has); a tail still waiting for its turn holds
   * nothing back, and one whose `signal` aborted (its client left) is skipped, or stops reading, and
   * rejects.
   */
  async tail(options: TailOptions & { onCut?: () => void }): Promise<LogFileRecord[]> {
    const { onCut, ...read } = options;
    if (this.#closed) {
      onCut?.(); // nothing more is written: what was logged before this tick is in the files once closed
      await this.#closed;
      return readLogTail(this.dir, read);
    }
    const run = async () => {
      read.signal?.throwIfAborted();
      if (this.#closed) {
        onCut?.();
        await this.#closed;
        return readLogTail(this.dir, read);
      }
      this.#holding++;
      try {
        // What was logged before this tick, per log: those lines are written for this tail, no later one.
        onCut?.();
        const landed: Promise<void>[] = [];
        for (const [name, mark] of this.#taken) {
          const log = this.#writeUpTo(name, mark);
          if (log) landed.push(written(log.stream));
        }
        await Promise.all([...landed, ...this.#ending]);
        return await readLogTail(this.dir, read);
      } finally {
        this.#holding--;
        if (this.#holding === 0) {
          for (const log of this.#open.values()) this.#flush(log);
          for (const name of this.#forgetting) this.forget(name);
          for (const resolve of this.#unheld.splice(0)) resolve();
        }
      }
    };
    // One at a time: a later tail's writes must not land in an earlier one's read (its follower has
    // those lines live). With none being read, its turn is now: cut in this tick.
    if (!this.#reading) return this.#turn(run);
    return new Promise((resolve, reject) =>
      this.#queued.push({ lines: read.lines, start: () => this.#turn(run).then(resolve, reject) }),
    );
  }

  /**
   * Lines not written since these files were made, of every log: dropped behind a disk slower than the
   * output, or lost to a file that failed (a write, an open, the wait before it is tried again).
   */
  get notWritten(): number {
    return this.#notWritten;
  }

  /**
   * Resolves once every line logged before the call is in its file, or counted in `notWritten`: what waits
   * in a batch is written now (what a tail being read holds, once it is read), then the writes are waited
   * for. Nothing is held meanwhile: later lines go on as usual. To how many of the lines logged before the
   * call (since these files were made) are not written: a line logged later and lost meanwhile is not
   * among them, one logged before and lost in a write that failed meanwhile is.
   */
  async settled(): Promise<number> {
    const count = { upTo: this.#logged, notWritten: this.#notWritten };
    this.#settling.add(count);
    try {
      if (this.#closed) return await this.#closedCount(count);
      // A tail read that never ends (a stuck disk) must not hold this past `close()`: that settles it too.
      if (this.#holding > 0) await new Promise<void>((resolve) => this.#unheld.push(resolve));
      if (this.#closed) return await this.#closedCount(count);
      for (const log of [...this.#open.values()]) this.#flush(log);
      await Promise.all([...[...this.#open.values()].map((log) => written(log.stream)), ...this.#ending]);
      return count.notWritten;
    } finally {
      this.#settling.delete(count);
    }
  }

  async #closedCount(count: { notWritten: number }): Promise<number> {
    await this.#closed;
    return count.notWritten;
  }

  /** Starts a tail's read; when it settles, the queued tail asking for the fewest lines is next. */
  #turn<T>(run: () => Promise<T>): Promise<T> {
    this.#reading = true;
    const result = run();
    result
      .catch(() => {})
      .finally(() => {
        this.#reading = false;
        let next = 0;
        for (const [i, queued] of this.#queued.entries()) {
          if (queued.lines < (this.#queued[next] as QueuedTail).lines) next = i;
        }
        this.#queued.splice(next, 1)[0]?.start();
      });
    return result;
  }

  /**
   * Writes a log's waiting lines up to its `mark`-th line taken (to a new file if its file went away),
   * leaving the later ones waiting. Returns the log written to, if any.
   */
  #writeUpTo(name: string, mark: number): OpenLog | undefined {
    const open = this.#open.get(name);
    if (!open) return undefined;
    const count = Math.min(mark - (this.#handed.get(name) ?? 0), open.pending.length);
    if (count <= 0) return undefined;
    const log = this.#stillOpen(open, 0);
    if (log) this.#write(log, count);
    return log;
  }

  /**
   * A service that is gone for good (removed from the config): its waiting lines are written and its
   * file is closed, so a reload that adds and removes services does not keep a descriptor per name
   * ever seen. The file stays (`msup logs <it>` still reads it); a later line opens it again. msup's
   * own log is never let go. While a tail is being read the lines wait: let go once no tail is.
   */
  forget(service: string): void {
    const name = safeName(service);
    if (name === EVENTS_LOG || this.#closed) return;
    if (this.#holding > 0) {
      this.#forgetting.add(name);
      return;
    }
    this.#forgetting.delete(name);
    const log = this.#open.get(name);
    if (log) {
      this.#write(log);
      this.#retire(log);
    }
    this.#tellDrops(name, 'now');
    this.#drops.delete(name);
    this.#failed.delete(name);
    this.#clearRetry(name);
    this.#taken.delete(name);
    this.#handed.delete(name);
  }

  /**
   * Tells every count of dropped lines not told yet, now and synchronously (the supervisor's stop, before
   * it lets the files go, so that the report lands in msup.log).
   */
  reportDrops(): void {
    for (const name of this.#drops.keys()) this.#tellDrops(name, 'in-call');
  }

  /** Flushes and closes every file; later writes are ignored. Idempotent. */
  close(): Promise<void> {
    if (!this.#closed) {
      for (const name of [...this.#retryTimers.keys()]) this.#clearRetry(name);
      for (const name of this.#drops.keys()) this.#tellDrops(name, 'now');
      const streams = [...this.#open.values()].map((log) => {
        this.#write(log);
        return ended(log.stream);
      });
      this.#open.clear();
      this.#closed = Promise.all([...streams, ...this.#ending]).then(() => {});
      for (const resolve of this.#unheld.splice(0)) resolve();
    }
    return this.#closed;
  }

  #file(name: string, index = 0): string {
    return path.join(this.dir, index === 0 ? `${name}.log` : `${name}.log.${index}`);
  }

  #append(name: string, json: string): void {
    if (this.#closed) return;
    const lineNumber = ++this.#logged;
    const failedAt = this.#failed.get(name);
    if (failedAt !== undefined) {
      if (this.#clock.now() - failedAt < RETRY_OPEN_MS) {
        this.#lose(name, 1);
        return;
      }
      this.#failed.delete(name);
      this.#clearRetry(name);
      this.#tellDrops(name, 'limited'); // the lines lost while it waited
    }
    const text = `${json}\n`;
    const bytes = Buffer.byteLength(text);
    let log = this.#open.get(name) ?? this.#openLog(name);
    if (!log) {
      this.#lose(name, 1);
      return;
    }
    if (this.#dropped(log, text.length)) return;
    const held = this.#holding > 0; // a tail is being read: no write and no rotation until it is done
    if (!held && log.size > 0 && log.size + bytes > log.rotateAt) {
      this.#checkSize(log); // rotated at the size counted only if the file has it: it may have been emptied
      if (log.size > 0 && log.size + bytes > log.rotateAt) log = this.#rotate(name, log);
    }
    if (!log) {
      this.#lose(name, 1);
      return;
    }
    log.pending.push(text);
    log.numbers.push(lineNumber);
    log.pendingLength += text.length;
    this.#taken.set(name, (this.#taken.get(name) ?? 0) + 1);
    log.size += bytes;
    if (log.timer || held) return;
    const wait = log.wroteAt + this.batchMs - performance.now();
    if (wait <= 0) this.#flush(log);
    else log.timer = setTimeout(() => this.#flush(log), wait);
  }

  /**
   * Whether a line of `length` is dropped: the file takes less than the service writes (a slow disk), or
   * a tail is read for long, and what waits for the log is past `maxQueuedBytes`. Then the next lines are
   * dropped too, until half of it is written (and the drops told). A line alone past the bound goes
   * through. Before, the file's stream buffered without bound.
   */
  #dropped(log: OpenLog, length: number): boolean {
    const drop = this.#drops.get(log.name);
    const bound = drop?.dropping ? this.maxQueuedBytes / 2 : this.maxQueuedBytes;
    // While a tail is read, lines wait for it by design (msup's own hold, as long as the read): they count
    // against a bound HELD_FACTOR times larger, and the disk's backlog alone against the usual one.
    const held = this.#holding > 0;
    const queued = held ? this.#waiting(log) - log.pendingLength : this.#waiting(log);
    const over =
      (queued > 0 && queued + length > bound) ||
      (held && log.pendingLength > 0 && log.pendingLength + length > HELD_FACTOR * bound);
    if (over) {
      this.#notWritten++;
      const counts = this.#dropsOf(log.name);
      counts.lines++;
      counts.dropping = true;
      return true;
    }
    if (drop?.dropping) {
      drop.dropping = false;
      this.#tellDrops(log.name, 'limited');
    }
    return false;
  }

  /** The drop counts of a log, made on first use. */
  #dropsOf(name: string) {
    let drop = this.#drops.get(name);
    if (!drop) {
      drop = { lines: 0, failed: 0, dropping: false, toldAt: Number.NEGATIVE_INFINITY };
      this.#drops.set(name, drop);
    }
    return drop;
  }

  /**
   * Lines of `name` lost to its file failing (a write, an open, the wait before it is tried again):
   * counted, and told as the lines dropped behind a slow disk are, once the log is tried again. A count:
   * lines lost as they are logged (the newest: no `settled()` under way counts them); else the numbers of
   * the lines, which had been waiting or written (each `settled()` under way counts those up to its own).
   */
  #lose(name: string, lines: number | readonly number[]): void {
    const count = typeof lines === 'number' ? lines : lines.length;
    if (count <= 0) return;
    this.#dropsOf(name).failed += count;
    this.#notWritten += count;
    if (typeof lines === 'number') return;
    for (const settling of this.#settling)
      for (const lineNumber of lines) if (lineNumber <= settling.upTo) settling.notWritten++;
  }

  /**
   * Tells the lines `name` dropped and has not told yet: `limited`, only when the last telling is
   * REPORT_DROPS_MS old (else once it is); `now` (forget, close) at once. Told after this call returns (the
   * listener may log an event to msup.log without coming back into a write under way), except `in-call`
   * (reportDrops, from outside any write).
   */
  #tellDrops(name: string, when: 'limited' | 'now' | 'in-call'): void {
    const drop = this.#drops.get(name);
    if (!drop || (drop.lines === 0 && drop.failed === 0)) return;
    const at = this.#clock.now();
    this.#clock.clearTimeout(drop.timer);
    drop.timer = undefined;
    if (when === 'limited' && at - drop.toldAt < REPORT_DROPS_MS) {
      // Held back: told when the 5 s have passed, not at a next episode that may never come.
      drop.timer = this.#clock.setTimeout(
        () => this.#tellDrops(name, 'limited'),
        drop.toldAt + REPORT_DROPS_MS - at,
      );
      return;
    }
    const { lines, failed } = drop;
    drop.lines = 0;
    drop.failed = 0;
    drop.toldAt = at;
    const tell = () => {
      if (lines > 0) this.#onDropped(name, lines, 'behind');
      if (failed > 0) this.#onDropped(name, failed, 'failed');
    };
    if (when === 'in-call') tell();
    else queueMicrotask(tell);
  }

  /**
   * The batch window has passed: writes the lines waiting, unless a tail is being read; to a new file
   * if the file was deleted or moved away (checked once a CHECK_FILE_MS at most).
   */
  #flush(log: OpenLog): void {
    clearTimeout(log.timer);
    log.timer = undefined;
    if (this.#holding > 0 || log.pending.length === 0) return;
    const current = this.#stillOpen(log, CHECK_FILE_MS);
    if (current) this.#write(current);
  }

  /**
   * The log to write to: `log`, or a new file for it (its waiting lines moved there) when its file was
   * deleted or moved away, checked when the last check is `checkEveryMs` old. Undefined: none could open.
   */
  #stillOpen(log: OpenLog, checkEveryMs: number): OpenLog | undefined {
    const now = performance.now();
    if (now - log.checkedAt < checkEveryMs) return log;
    log.checkedAt = now;
    return this.#stillThere(log) ? log : this.#reopen(log);
  }

  /**
   * The size of the file `log` writes (`size`, from a stat of it; else fstat): shorter than what went into
   * it, it was emptied in place (`: > web.log`, `truncate -s 0`, logrotate's copytruncate: how pm2 flush and
   * pm2-logrotate empty a log), and its count goes on from what is left. Before, the count went on from the
   * size before: the emptied file was rotated a few lines on (pushing the oldest rotated file out), and
   * counted at that size against the folder's bound (deleting other logs' rotated files).
   */
  #checkSize(log: OpenLog, size?: number): void {
    let onDisk = size;
    if (onDisk === undefined) {
      try {
        onDisk = fstatSync(log.fd).size;
      } catch {
        return; // closed already: nothing more is written to it
      }
    }
    if (onDisk >= log.confirmed) return; // writes under way only add to it
    const gone = log.confirmed - onDisk;
    log.size = Math.max(0, log.size - gone);
    log.rotateAt = Math.max(this.maxFileBytes, log.rotateAt - gone);
    log.confirmed = onDisk;
  }

  /** Lines of a log handed to its file, or lost with it: what is taken and not handed still waits. */
  #hand(name: string, lines: number): void {
    this.#handed.set(name, (this.#handed.get(name) ?? 0) + lines);
  }

  /** Whether the log's name still leads to the file it writes (not deleted, moved or replaced). */
  #stillThere(log: OpenLog): boolean {
    try {
      const stat = lstatSync(this.#file(log.name));
      return stat.ino === log.ino && stat.dev === log.dev;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      return code !== 'ENOENT' && code !== 'ENOTDIR';
    }
  }

  /** A new file (and folder, if that went too) for a log whose file is gone; its waiting lines move to it. */
  #reopen(log: OpenLog): OpenLog | undefined {
    this.#retire(log);
    const fresh = this.#openLog(log.name);
    if (!fresh) {
      // Lost with the file that went away: counted as handed, so later tails' marks stay true.
      this.#hand(log.name, log.pending.length);
      this.#lose(log.name, log.numbers);
      log.pending = [];
      log.numbers = [];
      log.pendingLength = 0;
      return undefined;
    }
    for (const text of log.pending) fresh.size += Buffer.byteLength(text);
    fresh.pending = log.pending;
    fresh.numbers = log.numbers;
    fresh.pendingLength = log.pendingLength;
    log.pending = [];
    log.numbers = [];
    log.pendingLength = 0;
    return fresh;
  }

  /** Stops using an open log: its stream is ended (close() waits for it). */
  #retire(log: OpenLog): void {
    if (this.#open.get(log.name) === log) this.#open.delete(log.name);
    const retired = this.#retired.get(log.name) ?? new Set<WriteStream>();
    this.#retired.set(log.name, retired.add(log.stream));
    const ending = ended(log.stream).finally(() => {
      this.#ending.delete(ending);
      retired.delete(log.stream);
      if (retired.size === 0 && this.#retired.get(log.name) === retired) this.#retired.delete(log.name);
    });
    this.#ending.add(ending);
  }

  /** What waits to be written for a log: its batch, its stream's buffer, and its retired streams'. */
  #waiting(log: OpenLog): number {
    let queued = log.stream.writableLength + log.pendingLength;
    for (const stream of this.#retired.get(log.name) ?? []) queued += stream.writableLength;
    return queued;
  }

  /** Writes the lines waiting (one write for all of them). */
  /** Writes the first `count` waiting lines (all by default); the rest wait on. */
  #write(log: OpenLog, count = log.pending.length): void {
    clearTimeout(log.timer);
    log.timer = undefined;
    if (count <= 0) return;
    const all = count === log.pending.length;
    const lines = all ? log.pending : log.pending.slice(0, count);
    const numbers = all ? log.numbers : log.numbers.slice(0, count);
    log.pending = all ? [] : log.pending.slice(count);
    log.numbers = all ? [] : log.numbers.slice(count);
    log.pendingLength = 0;
    for (const text of log.pending) log.pendingLength += text.length;
    this.#hand(log.name, count);
    log.wroteAt = performance.now();
    const text = lines.length === 1 ? (lines[0] as string) : lines.join('');
    const data = Buffer.from(log.cut ? `\n${text}` : text);
    const lead = log.cut ? 1 : 0;
    // A write that fails (ENOSPC, EFBIG; or after its stream failed) loses its lines that are not in the
    // file: counted.
    log.stream.write(data, (error) => {
      if (!error) log.confirmed += data.length;
      else this.#lose(log.name, numbers.slice(this.#landedLines(log, data, lead)));
    });
    log.cut = false;
  }

  /**
   * How many whole lines of `data`, a write that failed, are in the file all the same: a full disk takes
   * the start of a write, and fails the rest. Its bytes past what went through before are found once (the
   * file's size then), and handed to the failed writes in their order. `lead`: a newline that ends a cut
   * line before the first (no line of its own).
   */
  #landedLines(log: OpenLog, data: Buffer, lead: number): number {
    if (log.landed === undefined) {
      log.landed = 0;
      try {
        // The callbacks of failed writes come before the stream lets go of its descriptor.
        const stat = fstatSync(log.fd);
        if (stat.ino === log.ino && stat.dev === log.dev) log.landed = Math.max(0, stat.size - log.confirmed);
      } catch {
        // Closed already: none of it is counted as written.
      }
    }
    const reached = Math.min(log.landed, data.length);
    log.landed -= reached;
    let lines = 0;
    for (let nl = data.indexOf(10); nl !== -1 && nl < reached; nl = data.indexOf(10, nl + 1)) lines++;
    return Math.max(0, lines - lead);
  }

  #openLog(name: string): OpenLog | undefined {
    try {
      // Made again (0700, checked) if it was deleted since: `rm -rf .msup/logs` does not end logging.
      privateDir(this.dir);
      if (!this.#started) {
        this.#started = true;
        this.#prune();
      }
      // a synchronous open binds the stream to this file now, so a rename right after cannot mix files up
      // Created 0600, and never through a link someone planted in place of the file.
      const fd = openPrivate(this.#file(name), 'a');
      let stat: { size: number; dev: number; ino: number };
      try {
        stat = fstatSync(fd);
      } catch (error) {
        closeSync(fd);
        throw error;
      }
      const stream = createWriteStream('', { fd, flags: 'a' });
      const { size, dev, ino } = stat;
      const cut = endsInsideLine(this.#file(name), stat);
      const log: OpenLog = {
        name,
        stream,
        fd,
        dev,
        ino,
        checkedAt: performance.now(),
        size: cut ? size + 1 : size,
        rotateAt: this.maxFileBytes,
        cut,
        pending: [],
        numbers: [],
        pendingLength: 0,
        wroteAt: -Infinity,
        timer: undefined,
        confirmed: size,
      };
      stream.on('error', (error) => {
        // Reported once; the lines waiting for this file are lost. The file is opened again only after
        // RETRY_OPEN_MS, as one that could not be opened: a full disk (ENOSPC) or a file size limit
        // (EFBIG) lets the open through and fails each write, and reopening at the next line reported
        // the error again at every batch (tens of warnings a second for a busy service).
        clearTimeout(log.timer);
        this.#hand(name, log.pending.length);
        this.#lose(name, log.numbers);
        log.pending = [];
        log.numbers = [];
        log.pendingLength = 0;
        if (this.#open.get(name) === log) {
          this.#open.delete(name);
          this.#fail(name);
        }
        this.#onError(error);
      });
      this.#open.set(name, log);
      return log;
    } catch (error) {
      this.#fail(name);
      this.#onError(error as Error);
      return undefined;
    }
  }

  /** A log's file failed: tried again after RETRY_OPEN_MS, when its lost lines are told (a line or not). */
  #fail(name: string): void {
    this.#failed.set(name, this.#clock.now());
    this.#clearRetry(name);
    const timer = this.#clock.setTimeout(() => {
      this.#retryTimers.delete(name);
      this.#tellDrops(name, 'limited');
    }, RETRY_OPEN_MS);
    this.#retryTimers.set(name, timer);
  }

  #clearRetry(name: string): void {
    this.#clock.clearTimeout(this.#retryTimers.get(name));
    this.#retryTimers.delete(name);
  }

  #rotate(name: string, log: OpenLog): OpenLog | undefined {
    this.#write(log); // the lines waiting belong to the file being rotated
    this.#retire(log);
    const sizes = this.#rotatedSizes;
    try {
      if (this.keep === 0) rmSync(this.#file(name), { force: true });
      else {
        rmSync(this.#file(name, this.keep), { force: true });
        sizes.delete(this.#file(name, this.keep));
        for (let i = this.keep - 1; i >= 1; i--) {
          const from = this.#file(name, i);
          const size = sizes.get(from);
          sizes.delete(from);
          try {
            renameSync(from, this.#file(name, i + 1));
            if (size !== undefined) sizes.set(this.#file(name, i + 1), size);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          }
        }
        renameSync(this.#file(name), this.#file(name, 1));
        sizes.set(this.#file(name, 1), log.size);
      }
      this.#prune();
    } catch (error) {
      this.#onError(error as Error);
      // Tried again only after another maxFileBytes, not on every line. (Counted at 0 for that, the file
      // went below 0 once emptied in place, and grew far past the bound before it was rotated.)
      const reopened = this.#openLog(name);
      if (reopened) reopened.rotateAt = reopened.size + this.maxFileBytes;
      return reopened;
    }
    return this.#openLog(name);
  }

  /** Deletes the oldest rotated files (by modification time, then highest number) while over the bound. */
  #prune(): void {
    try {
      this.#pruneNow();
    } catch (error) {
      this.#onError(error as Error);
    }
  }

  #pruneNow(): void {
    const rotated: { file: string; size: number; mtime: number; index: number }[] = [];
    let total = 0;
    for (const entry of readdirSync(this.dir)) {
      const match = FILE.exec(entry);
      if (!match) continue;
      const file = path.join(this.dir, entry);
      const index = Number(match[2] ?? 0);
      const open = index === 0 ? this.#open.get(match[1] as string) : undefined;
      let stat: { size: number; mtimeMs: number; dev: number; ino: number };
      try {
        stat = statSync(file);
      } catch {
        continue;
      }
      if (open && stat.dev === open.dev && stat.ino === open.ino) this.#checkSize(open, stat.size);
      const size = open?.size ?? Math.max(stat.size, this.#rotatedSizes.get(file) ?? 0);
      total += size;
      if (index > 0) rotated.push({ file, size, mtime: stat.mtimeMs, index });
    }
    rotated.sort((a, b) => a.mtime - b.mtime || b.index - a.index || a.file.localeCompare(b.file));
    for (const old of rotated) {
      if (total <= this.maxTotalBytes) break;
      rmSync(old.file, { force: true });
      this.#rotatedSizes.delete(old.file);
      total -= old.size;
    }
  }
}
