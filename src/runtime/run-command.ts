// A short command run on the host in its own process group (an exec probe of a process instance):
// guarded by the watchdog while it runs, its whole group killed on timeout, on abort and once it exits.
// What it writes (stdout and stderr, together, as it comes) is kept in part, its last bytes, for a
// failed probe to show.
import { spawn } from 'node:child_process';
import type { CommandResult, RuntimeHost } from '../contract.js';
import type { ResolvedCommand } from '../types.js';

/** How much of what a command writes is kept: its last bytes (a probe shows a few hundred of them). */
export const OUTPUT_KEEP_BYTES = 1024;

/**
 * Keeps the last `OUTPUT_KEEP_BYTES` of a stream of chunks. Once anything was left out (a single chunk
 * over the keep counts too), the text begins with `…`, without the rest of a character cut in two.
 */
function outputTail() {
  let tail = Buffer.alloc(0);
  let cut = false;
  return {
    push(chunk: Buffer) {
      if (chunk.length > OUTPUT_KEEP_BYTES) cut = true;
      tail = Buffer.concat([tail, chunk.subarray(-OUTPUT_KEEP_BYTES)]);
      if (tail.length <= OUTPUT_KEEP_BYTES) return;
      tail = tail.subarray(-OUTPUT_KEEP_BYTES);
      cut = true;
    },
    /** The text kept: after `…` when its start was left out, from the first whole character. */
    text(): string {
      if (!cut) return tail.toString('utf8');
      // UTF-8 continuation bytes (10xxxxxx) at the start are the end of a character cut in two: at most 3.
      let start = 0;
      while (start < 3 && start < tail.length && ((tail[start] ?? 0) & 0xc0) === 0x80) start++;
      return `…${tail.subarray(start).toString('utf8')}`;
    },
  };
}

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
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
    } catch (error) {
      resolve({ code: null, signal: null, timedOut: false, error: (error as Error).message });
      return;
    }
    const release = child.pid ? host.guard({ group: child.pid }) : () => {};
    const output = outputTail();
    let timedOut = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let settled = false;
    const killGroup = () => {
      if (!child.pid) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    };
    // A stop ends it at once, and once it has exited, the wait for its output too.
    const stop = () => (exit ? finish() : killGroup());
    const settle = (result: CommandResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', stop);
      release();
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve(result);
    };
    const finish = () => {
      if (!exit) return;
      const text = output.text();
      settle({ code: exit.code, signal: exit.signal, timedOut, ...(text ? { output: text } : {}) });
    };
    // Its output is read until both pipes close once it has exited (its last write may come after the
    // exit), up to the timeout: something outside its group (a daemon it started) may hold them open.
    const timer = setTimeout(() => {
      if (exit) {
        finish();
        return;
      }
      timedOut = true;
      killGroup();
    }, options.timeoutMs);
    options.signal?.addEventListener('abort', stop, { once: true });
    let open = 0;
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      open++;
      stream.on('data', (chunk: Buffer) => output.push(chunk));
      stream.once('close', () => {
        if (--open === 0) finish();
      });
    }
    child.once('error', (error) => {
      settle({ code: null, signal: null, timedOut: false, error: error.message });
    });
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      killGroup(); // anything the command left behind
      // Killed at its timeout or by a stop: no verdict but that, and nothing of its output to wait for.
      if (open === 0 || timedOut || options.signal?.aborted) finish();
    });
  });
}
