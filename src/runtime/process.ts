// The process runtime: each instance is a child process in its own process group (its own session),
// stopped with SIGTERM to the group, then SIGKILL after the grace period; guarded by the watchdog.
import { mkdirSync } from 'node:fs';
import { execa } from 'execa';
import { MsupError } from '../errors.js';
import type { ExitInfo, InstanceSpec, OutputLine, RunningInstance, Runtime } from '../types.js';
import { LineSplitter } from './lines.js';
import { processStartTime, signalGroup, waitForGroupExit } from './proc.js';
import { type LeftOver, liveOwner, reapLeftovers, StateFile } from './state-file.js';
import { Watchdog } from './watchdog.js';

/** After SIGKILL, how long to wait for the kernel to take the group away. */
const KILL_WAIT_MS = 5000;

export class ProcessRuntime implements Runtime {
  readonly name = 'process';
  readonly #state: StateFile;
  readonly #watchdog = new Watchdog();

  private constructor(state: StateFile) {
    this.#state = state;
    this.#state.write();
  }

  /**
   * Opens the runtime for a project: refuses when another live msup owns `stateDir`,
   * and reaps the process groups a crashed run left there.
   */
  static async open(stateDir: string): Promise<{ runtime: ProcessRuntime; reaped: LeftOver[] }> {
    mkdirSync(stateDir, { recursive: true });
    const state = new StateFile(stateDir, process.pid, await processStartTime(process.pid));
    const previous = state.read();
    const owner = await liveOwner(previous);
    if (owner !== undefined) {
      throw new MsupError(
        'MSUP_ALREADY_RUNNING',
        `msup is already running for this project (pid ${owner}, state in ${state.file})`,
      );
    }
    const reaped = previous ? await reapLeftovers(previous) : [];
    return { runtime: new ProcessRuntime(state), reaped };
  }

  start(spec: InstanceSpec, onOutput: (line: OutputLine) => void): RunningInstance {
    const startedAt = Date.now();
    const [file, ...args] = spec.command.argv as [string, ...string[]];
    const child = execa(file, args, {
      cwd: spec.cwd,
      env: spec.env,
      extendEnv: false,
      shell: spec.command.shell,
      detached: true,
      cleanup: false,
      stdin: 'ignore',
      buffer: false,
      reject: false,
      stripFinalNewline: false,
      forceKillAfterDelay: false,
    });
    // execa's promise settles once the pipes close; the exit event below is what we act on.
    child.catch(() => {});
    const pid = child.pid ?? null;
    const key = `${spec.service}#${spec.index}:${pid}`;
    for (const stream of ['stdout', 'stderr'] as const) {
      const splitter = new LineSplitter((line) =>
        onOutput({ service: spec.service, index: spec.index, stream, line }),
      );
      child[stream]?.on('data', (chunk: Buffer) => splitter.push(chunk));
      child[stream]?.on('end', () => splitter.flush());
      child[stream]?.on('error', () => splitter.flush());
    }
    if (pid !== null) this.#watchdog.watch(pid);
    const recorded =
      pid === null
        ? Promise.resolve()
        : processStartTime(pid).then((startTime) =>
            this.#state.add(key, { service: spec.service, index: spec.index, pgid: pid, startTime }),
          );

    const exited = new Promise<ExitInfo>((resolve) => {
      const at = () => ({ at: Date.now(), uptimeMs: Date.now() - startedAt });
      child.once('exit', (code, signal) => resolve({ code, signal, ...at() }));
      child.once('error', (error) => {
        if (pid === null) resolve({ code: null, signal: null, ...at(), error: error.message });
      });
    });

    let stopping: Promise<void> | undefined;
    const stop = (timeoutMs: number): Promise<void> => {
      stopping ??= (async () => {
        if (pid === null) return;
        signalGroup(pid, 'SIGTERM');
        if (!(await waitForGroupExit(pid, timeoutMs))) {
          signalGroup(pid, 'SIGKILL');
          await waitForGroupExit(pid, KILL_WAIT_MS);
        }
        await exited;
        await recorded;
        this.#watchdog.forget(pid);
        this.#state.remove(key);
      })();
      return stopping;
    };

    const kill = () => {
      if (pid !== null) signalGroup(pid, 'SIGKILL');
    };
    return { pid, startedAt, exited, stop, kill };
  }

  /** Puts a process group msup started outside an instance (an exec probe) under the watchdog's guard. */
  guard(pgid: number): () => void {
    this.#watchdog.watch(pgid);
    return () => this.#watchdog.forget(pgid);
  }

  async close(): Promise<void> {
    // A safety net: a group still tracked here was lost track of; it must not outlive msup.
    for (const pgid of this.#watchdog.groups()) signalGroup(pgid, 'SIGKILL');
    await this.#watchdog.close();
    this.#state.delete();
  }
}
