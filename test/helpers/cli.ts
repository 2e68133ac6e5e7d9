// Runs the built msup command as a user would, and watches what it prints.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { waitFor } from './processes.js';
import { type Project, REPO } from './project.js';

export const BIN = path.join(REPO, 'bin', 'msup.js');

export interface CliRun {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout matches, or throws with what was printed. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `msup ARGS` in the project (or `cwd`), tagged; stopped (SIGTERM, then SIGKILL) after the test. */
export function runCli(
  project: Project,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
) {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? project.root,
    env: project.env(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let done = false;
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    }),
  );
  project.onCleanup(async () => {
    if (done) return;
    child.kill('SIGTERM');
    if (!(await waitFor(() => done, 10_000))) child.kill('SIGKILL');
    await exited;
  });
  const run: CliRun = {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitForOutput(pattern, timeoutMs = 15_000) {
      if (await waitFor(() => pattern.test(out), timeoutMs)) return;
      throw new Error(
        `msup did not print ${pattern} in ${timeoutMs}ms.\nstdout (end):\n${out.slice(-3000)}\nstderr:\n${err.slice(-3000)}`,
      );
    },
  };
  return run;
}
