// Runs the built msup command on a real pseudo-terminal (util-linux `script`), as a user's terminal would,
// so a test can stop reading it (Ctrl-S) or close it (a killed tmux window, a dropped ssh session).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BIN } from './cli.js';
import { waitFor } from './processes.js';
import type { Project } from './project.js';

const quote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`;

export interface TerminalRun {
  /** Everything the terminal showed so far. */
  screen(): string;
  waitForScreen(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Stops reading the terminal: it fills up, and msup's writes to it stall. */
  pause(): void;
  resume(): void;
  /** Closes the terminal: `script` (the terminal's master side) is SIGKILLed. */
  close(): void;
  exited: Promise<unknown>;
}

/** `msup ARGS` on a fresh pseudo-terminal, in the project folder; the terminal is closed after the test. */
export function runInTerminal(project: Project, args: string[]): TerminalRun {
  const command = [process.execPath, BIN, ...args].map(quote).join(' ');
  // -q: no banner, -f: flush at once, -e: script's exit code is the command's, -c: the command.
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    cwd: project.root,
    env: { ...project.env(), SHELL: '/bin/sh', TERM: 'xterm' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let screen = '';
  let done = false;
  child.stdout.on('data', (d) => (screen += d));
  const exited = new Promise((resolve) => child.once('exit', resolve)).then(() => (done = true));
  project.onCleanup(async () => {
    child.stdout.resume();
    if (!done) child.kill('SIGKILL');
    await exited;
  });
  return {
    screen: () => screen,
    async waitForScreen(pattern, timeoutMs = 15_000) {
      if (await waitFor(() => pattern.test(screen), timeoutMs)) return;
      throw new Error(
        `the terminal did not show ${pattern} in ${timeoutMs}ms; it ends with:\n${screen.slice(-3000)}`,
      );
    },
    pause: () => child.stdout.pause(),
    resume: () => child.stdout.resume(),
    close: () => child.kill('SIGKILL'),
    exited,
  };
}

/** The pid that `.msup/state.json` records for the project's msup, if any. */
export function statePid(project: Project): number | undefined {
  try {
    const state = JSON.parse(readFileSync(path.join(project.root, '.msup', 'state.json'), 'utf8'));
    return typeof state.pid === 'number' ? state.pid : undefined;
  } catch {
    return undefined;
  }
}
