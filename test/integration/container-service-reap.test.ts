// What a crashed run's podman API service leaves is reaped: its process group (recorded with the leader's
// start time, so a reused pid is left alone) and its private folder. A stand-in process plays the service,
// so this runs without podman and does not depend on whether a real service outlived its msup.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { reapServices, SERVICE_ENTRY } from '../../src/runtime/container/engine-service.js';
import { isAlive, processStartTime } from '../../src/runtime/proc.js';
import { waitFor } from '../helpers/processes.js';

const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
});

async function standIn(): Promise<{ pid: number; startTime: string }> {
  // A group of two (sh and its sleep), as podman's service has children of its own.
  const child = spawn('sh', ['-c', 'sleep 600 & wait'], { detached: true, stdio: 'ignore' });
  const pid = child.pid as number;
  started.push(pid);
  child.unref();
  const startTime = await processStartTime(pid);
  if (!startTime) throw new Error('no start time');
  return { pid, startTime };
}

describe("a crashed run's podman API service", () => {
  it('is reaped with its group and folder; a record whose start time does not match is left alone', async () => {
    const service = await standIn();
    const other = await standIn();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msup-podman-'));
    try {
      const entry = (pid: number, startTime: string) => ({
        runtime: 'container',
        service: SERVICE_ENTRY.service,
        index: 0,
        data: { kind: SERVICE_ENTRY.kind, pgid: pid, startTime, dir },
      });
      const reaped = await reapServices([
        entry(service.pid, service.startTime),
        entry(other.pid, 'not its start'),
      ]);
      expect(reaped).toHaveLength(1);
      expect(reaped[0]?.what).toMatch(/^podman API service, process group \d+ \(\d+ process/);
      expect(await waitFor(() => !isAlive(service.pid), 3000, 20)).toBe(true);
      expect(isAlive(other.pid)).toBe(true); // its recorded start time is not this process's: a reused pid
      expect(existsSync(dir)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
