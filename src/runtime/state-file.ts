// The per-project state file (.msup/state.json): which msup runs this project and which process
// groups it started, so a later start can refuse to run twice and reap what a crashed run left.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { groupMembers, processStartTime, signalGroup, waitForGroupExit } from './proc.js';

export interface StateRecord {
  version: 1;
  pid: number;
  startTime: string | null;
  groups: Record<string, { service: string; index: number; pgid: number; startTime: string | null }>;
}

export interface LeftOver {
  service: string;
  index: number;
  pgid: number;
  pids: number[];
}

export class StateFile {
  readonly file: string;
  #record: StateRecord;

  constructor(stateDir: string, pid: number, startTime: string | null) {
    this.file = path.join(stateDir, 'state.json');
    this.#record = { version: 1, pid, startTime, groups: {} };
  }

  read(): StateRecord | undefined {
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as StateRecord;
      return parsed && parsed.version === 1 && typeof parsed.groups === 'object' ? parsed : undefined;
    } catch {
      return undefined;
    }
  }

  write(): void {
    mkdirSync(path.dirname(this.file), { recursive: true });
    const temp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(this.#record, null, 2)}\n`);
    renameSync(temp, this.file);
  }

  add(key: string, entry: StateRecord['groups'][string]): void {
    this.#record.groups[key] = entry;
    this.write();
  }

  remove(key: string): void {
    delete this.#record.groups[key];
    this.write();
  }

  delete(): void {
    rmSync(this.file, { force: true });
  }
}

/** The pid of a live msup that owns this state file, if any. */
export async function liveOwner(previous: StateRecord | undefined): Promise<number | undefined> {
  if (!previous) return undefined;
  const startTime = await processStartTime(previous.pid);
  return startTime !== null && startTime === previous.startTime ? previous.pid : undefined;
}

/** Ends the process groups a crashed run left behind. */
export async function reapLeftovers(previous: StateRecord): Promise<LeftOver[]> {
  const reaped: LeftOver[] = [];
  for (const entry of Object.values(previous.groups)) {
    // A live group leader with another start time is a new process that reused the pid: not ours.
    const leaderStart = await processStartTime(entry.pgid);
    if (leaderStart !== null && leaderStart !== entry.startTime) continue;
    const pids = await groupMembers(entry.pgid);
    if (pids.length === 0) continue;
    signalGroup(entry.pgid, 'SIGKILL');
    await waitForGroupExit(entry.pgid, 2000);
    reaped.push({ service: entry.service, index: entry.index, pgid: entry.pgid, pids });
  }
  return reaped;
}
