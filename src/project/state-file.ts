// The project's state file (.msup/state.json): the lock that lets one msup run a project, and what its
// runtimes asked to remember (process groups, containers), so a later start can reap what a crashed run
// left. Only the msup that created the file (with O_EXCL) writes or removes it.
import { linkSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Remembered } from '../contract.js';
import { MsupError } from '../errors.js';

export interface StateRecord {
  version: 2;
  pid: number;
  /** The owner's start time (see processStartTime), so a reused pid is not taken for it. */
  startTime: string | null;
  entries: Record<string, Remembered>;
}

/** What a state file of an earlier version said, as entries of this one (version 1 held process groups). */
function upgrade(parsed: unknown): StateRecord | undefined {
  if (!parsed || typeof parsed !== 'object') return undefined;
  const record = parsed as Record<string, unknown>;
  if (typeof record.pid !== 'number') return undefined;
  const startTime = typeof record.startTime === 'string' ? record.startTime : null;
  if (record.version === 2 && record.entries && typeof record.entries === 'object') {
    return { version: 2, pid: record.pid, startTime, entries: record.entries as StateRecord['entries'] };
  }
  if (record.version === 1 && record.groups && typeof record.groups === 'object') {
    const entries: StateRecord['entries'] = {};
    for (const [key, g] of Object.entries(record.groups as Record<string, Record<string, unknown>>)) {
      entries[key] = {
        runtime: 'process',
        service: String(g.service),
        index: Number(g.index),
        data: { pgid: g.pgid, startTime: g.startTime },
      };
    }
    return { version: 2, pid: record.pid, startTime, entries };
  }
  return undefined;
}

export function readState(file: string): StateRecord | undefined {
  try {
    return upgrade(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    return undefined;
  }
}

export interface LockOptions {
  pid: number;
  startTime: string | null;
  /** The start time of a live process with this pid, or null when there is none. */
  startTimeOf(pid: number): Promise<string | null>;
  /** A failed write (disk full, ...): the state is kept in memory and written again at the next change. */
  onError(error: Error): void;
}

/** How long a takeover of a stale lock may take before another msup may assume its taker died. */
const TAKEOVER_STALE_MS = 10_000;

export class StateFile {
  readonly file: string;
  readonly #record: StateRecord;
  readonly #onError: (error: Error) => void;
  #released = false;

  private constructor(file: string, record: StateRecord, onError: (error: Error) => void) {
    this.file = file;
    this.#record = record;
    this.#onError = onError;
  }

  /**
   * Takes the project: creates the state file exclusively, or takes over one whose owner is gone.
   * Resolves with the lock and the previous (crashed) run's record; rejects with MSUP_ALREADY_RUNNING.
   */
  static async acquire(
    stateDir: string,
    options: LockOptions,
  ): Promise<{ state: StateFile; previous: StateRecord | undefined }> {
    const file = path.join(stateDir, 'state.json');
    const record: StateRecord = { version: 2, pid: options.pid, startTime: options.startTime, entries: {} };
    const content = `${JSON.stringify(record, null, 2)}\n`;
    // Looks again while a file without a record is young (being written, or left empty by a crash).
    const giveUpAt = Date.now() + YOUNG_MS + 500;
    for (let attempt = 0; attempt < 20 || Date.now() < giveUpAt; attempt++) {
      if (createWhole(file, content)) {
        return { state: new StateFile(file, record, options.onError), previous: undefined };
      }
      const previous = readState(file);
      const owner = previous ? await liveOwner(previous, options.startTimeOf) : undefined;
      if (owner !== undefined) {
        throw new MsupError(
          'MSUP_ALREADY_RUNNING',
          `msup is already running for this project (pid ${owner}, state in ${file})`,
        );
      }
      if (!previous && isYoung(file)) {
        // Just created by another msup that has not written it yet: look again.
        await new Promise((r) => setTimeout(r, 25));
        continue;
      }
      const taken = await takeOver(file, content, previous);
      if (taken) return { state: new StateFile(file, record, options.onError), previous };
    }
    throw new MsupError('MSUP_ALREADY_RUNNING', `could not take the project's state file ${file}`);
  }

  /** Writes the record (temp file, then rename); a failure is reported, not thrown. */
  #write(): void {
    if (this.#released) return;
    const temp = `${this.file}.${process.pid}.tmp`;
    try {
      writeFileSync(temp, `${JSON.stringify(this.#record, null, 2)}\n`, { mode: 0o600 });
      renameSync(temp, this.file);
    } catch (error) {
      try {
        rmSync(temp, { force: true });
      } catch {}
      this.#onError(error as Error);
    }
  }

  remember(key: string, entry: Remembered): () => void {
    this.#record.entries[key] = entry;
    this.#write();
    return () => {
      if (!(key in this.#record.entries)) return;
      delete this.#record.entries[key];
      this.#write();
    };
  }

  /** Removes the state file: this msup has stopped. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    try {
      const current = readState(this.file);
      if (current && current.pid === this.#record.pid && current.startTime === this.#record.startTime) {
        rmSync(this.file, { force: true });
      }
    } catch (error) {
      this.#onError(error as Error);
    }
  }
}

/** How long a state file without a record may be one that another msup is writing. */
const YOUNG_MS = 2000;

/**
 * Creates `file` with its content in one step, or returns false when it exists: the content goes to a
 * file of this process's own, linked to the name (link fails when the name exists). A crash never
 * leaves an empty lock, as an exclusive create and then a write could.
 */
function createWhole(file: string, content: string): boolean {
  const temp = `${file}.${process.pid}.new`;
  writeFileSync(temp, content, { mode: 0o600 });
  try {
    linkSync(temp, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== undefined && NO_LINKS.has(code)) return createExclusive(file, content);
    throw error;
  } finally {
    rmSync(temp, { force: true });
  }
}

/** What link() says on a file system without hard links (FAT, exFAT, some shared folders). */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/** There, an exclusive create and then the write (a crash between them leaves an empty file, taken over 2 s later). */
function createExclusive(file: string, content: string): boolean {
  try {
    writeFileSync(file, content, { flag: 'wx', mode: 0o600 });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return false;
  }
}

function isYoung(file: string): boolean {
  try {
    return Date.now() - statSync(file).mtimeMs < YOUNG_MS;
  } catch {
    return true;
  }
}

/**
 * Replaces a stale state file under a takeover lock (created exclusively), so two msups that both
 * found it stale cannot both take it: the second finds the takeover lock, or a live owner.
 */
async function takeOver(file: string, content: string, previous: StateRecord | undefined): Promise<boolean> {
  const takeover = `${file}.takeover`;
  try {
    writeFileSync(takeover, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    try {
      if (Date.now() - statSync(takeover).mtimeMs > TAKEOVER_STALE_MS) rmSync(takeover, { force: true });
    } catch {}
    await new Promise((r) => setTimeout(r, 25));
    return false;
  }
  try {
    // Still the stale file we judged (not one a faster msup wrote meanwhile)?
    const now = readState(file);
    if (JSON.stringify(now) !== JSON.stringify(previous)) return false;
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, content, { mode: 0o600 });
    renameSync(temp, file);
    return true;
  } finally {
    rmSync(takeover, { force: true });
  }
}

/** The pid of a live msup that owns this state, if any. */
export async function liveOwner(
  previous: StateRecord,
  startTimeOf: (pid: number) => Promise<string | null>,
): Promise<number | undefined> {
  const startTime = await startTimeOf(previous.pid);
  return startTime !== null && startTime === previous.startTime ? previous.pid : undefined;
}
