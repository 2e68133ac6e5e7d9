// The watchdog after msup's death, for real: msup (here a small program using the built Watchdog) is
// SIGKILLed; a group guarded `afterCommands` (a container engine's API service) is ended only once the
// commands (the containers' removals) ran, while an ordinary group is ended at once.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/processes.js';
import { REPO } from '../helpers/project.js';

let dir = '';
const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
  rmSync(dir, { recursive: true, force: true });
});

/** A process group that logs `NAME TERM` when it gets SIGTERM, then ends. */
function group(name: string, log: string): number {
  const child = spawn(
    '/bin/sh',
    ['-c', `trap 'echo "${name} TERM" >> ${log}; exit 0' TERM; while :; do sleep 0.05; done`],
    { detached: true, stdio: 'ignore' },
  );
  child.unref();
  started.push(child.pid as number);
  return child.pid as number;
}

const alive = (pgid: number) => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('the watchdog, when msup dies', () => {
  it('ends a group guarded afterCommands only once the commands ended; others at once', {
    timeout: 30_000,
  }, async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'msup-watchdog-'));
    const log = path.join(dir, 'log');
    writeFileSync(log, '');
    const service = group('service', log);
    const instance = group('instance', log);
    const program = path.join(dir, 'msup.mjs');
    writeFileSync(
      program,
      `import { Watchdog } from ${JSON.stringify(path.join(REPO, 'dist/project/watchdog.js'))};
const watchdog = new Watchdog();
watchdog.watch(${service}, { afterCommands: true });
watchdog.watch(${instance});
watchdog.onDeath(['/bin/sh', '-c', 'sleep 1.5; echo "command done" >> ${log}']);
setTimeout(() => console.log('ready'), 200);
setInterval(() => {}, 1000);
`,
    );
    const msup = spawn(process.execPath, [program], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => msup.stdout.on('data', () => resolve()));
    msup.kill('SIGKILL');
    expect(await waitFor(() => !alive(service), 20_000, 50)).toBe(true);
    expect(alive(instance)).toBe(false);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual([
      'instance TERM',
      'command done',
      'service TERM',
    ]);
  });
});
