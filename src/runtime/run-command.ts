// A short command run on the host in its own process group (an exec probe of a process instance):
// guarded by the watchdog while it runs, its whole group killed on timeout, on abort and once it exits.
import { spawn } from 'node:child_process';
import type { CommandResult, RuntimeHost } from '../contract.js';
import type { ResolvedCommand } from '../types.js';

export function runGuarded(
  host: Pick<RuntimeHost, 'guard'>,
  command: ResolvedCommand,
  options: { cwd: string; env: Readonly<Record<string, string>>; timeoutMs: number; signal?: AbortSignal },
): Promise<CommandResult> {
  return new Promise((resolve) => {
    if (options.signal?.aborted) {
      resolve({ code: null, signal: null, timedOut: false, error: 'cancelled' });
      return;
    }
    const [file, ...args] = command.argv as [string, ...string[]];
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(file, args, {
        cwd: options.cwd,
        env: { ...options.env },
        shell: command.shell,
        stdio: 'ignore',
        detached: true,
      });
    } catch (error) {
      resolve({ code: null, signal: null, timedOut: false, error: (error as Error).message });
      return;
    }
    const release = child.pid ? host.guard({ group: child.pid }) : () => {};
    let timedOut = false;
    const killGroup = () => {
      if (!child.pid) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, options.timeoutMs);
    options.signal?.addEventListener('abort', killGroup, { once: true });
    const done = () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', killGroup);
      release();
    };
    child.once('error', (error) => {
      done();
      resolve({ code: null, signal: null, timedOut: false, error: error.message });
    });
    child.once('exit', (code, signal) => {
      killGroup(); // anything the command left behind
      done();
      resolve({ code, signal, timedOut });
    });
  });
}
