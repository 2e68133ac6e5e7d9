// The process runtime: each instance is a child process in its own process group (its own session),
// stopped with SIGTERM to the group, then SIGKILL after the grace period; guarded by the watchdog.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type {
  InstanceSpec,
  Reaped,
  Remembered,
  RunningInstance,
  Runtime,
  RuntimeHost,
  RuntimePlugin,
  Usage,
} from '../contract.js';
import type { ExitInfo, OutputLine, ResolvedCommand, ResolvedService } from '../types.js';
import { LineSplitter } from './lines.js';
import {
  carryingGuard,
  endProcesses,
  escapedProcesses,
  GroupWaiter,
  GUARD_VARIABLE,
  groupUsage,
  processStartTime,
  scanProcesses,
  signalGroup,
} from './proc.js';
import { runGuarded } from './run-command.js';

/** After SIGKILL, how long to wait for the kernel to take the group away. */
const KILL_WAIT_MS = 5000;

/** Splits a child's stdout and stderr into whole lines for `onOutput`. */
export function splitOutput(
  child: { stdout?: NodeJS.ReadableStream | null; stderr?: NodeJS.ReadableStream | null },
  emit: (stream: 'stdout' | 'stderr', line: string) => void,
): void {
  for (const stream of ['stdout', 'stderr'] as const) {
    const splitter = new LineSplitter((line) => emit(stream, line));
    child[stream]?.on('data', (chunk: Buffer) => splitter.push(chunk));
    child[stream]?.on('end', () => splitter.flush());
    child[stream]?.on('error', () => splitter.flush());
  }
}

export interface LaunchedGroup {
  pid: number | null;
  startedAt: number;
  exited: Promise<ExitInfo>;
  stop(timeoutMs: number): Promise<void>;
  kill(): void;
  /** With `ipc: true` (a Node program): messages to and from it, as JSON. */
  channel?: IpcChannel;
}

export interface IpcChannel {
  /** False once the channel has closed (the program ended). */
  send(message: unknown): boolean;
  onMessage(listener: (message: unknown) => void): void;
}

/** A launch refused before any process existed. */
/**
 * Why a spawn failed. Node reports a missing cwd as `spawn <file> ENOENT`, naming a program that exists:
 * the folder is looked at then (only when a spawn failed, never on the way to a good one).
 */
function spawnProblem(error: NodeJS.ErrnoException, cwd: string | undefined): string {
  if (error.code === 'ENOENT' && cwd !== undefined && !existsSync(cwd))
    return `its folder ${cwd} (cwd) does not exist`;
  return error.message;
}

function failedGroup(error: unknown, startedAt: number): LaunchedGroup {
  const message = error instanceof Error ? error.message : String(error);
  const exit = { code: null, signal: null, at: Date.now(), uptimeMs: 0, error: message };
  return { pid: null, startedAt, exited: Promise.resolve(exit), stop: async () => {}, kill: () => {} };
}

/**
 * Launches a command as the leader of a new process group, remembered in the state file and guarded by
 * the watchdog until the whole group is gone. The process runtime's instances, and the processes other
 * runtimes run beside theirs (a sidecar, a function's environment), are such groups.
 */
export function launchGroup(
  host: RuntimeHost,
  what: { runtime: string; service: string; index: number },
  command: ResolvedCommand,
  options: { cwd: string; env: Readonly<Record<string, string>>; waiter?: GroupWaiter; ipc?: boolean },
  onOutput: (stream: 'stdout' | 'stderr', line: string) => void,
): LaunchedGroup {
  const waiter = options.waiter ?? new GroupWaiter();
  const startedAt = Date.now();
  // Every process of the group inherits this token: one that leaves the group (setsid) is still found.
  const token = randomBytes(9).toString('base64url');
  const [file, ...args] = command.argv as [string, ...string[]];
  // node:child_process, not execa: a bare detached spawn with two pipes is all an instance needs, and
  // execa alone added 16 MB to msup's memory (measured; BENCHMARKS.md, the supervisor's weight).
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      cwd: options.cwd,
      env: { ...options.env, [GUARD_VARIABLE]: token },
      shell: command.shell,
      detached: true,
      stdio: options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
      ...(options.ipc ? { serialization: 'json' as const } : {}),
    });
  } catch (error) {
    // A synchronous refusal (an invalid cwd type, a NUL byte): the same early exit as a spawn error.
    return failedGroup(error, startedAt);
  }
  const pid = child.pid ?? null;
  splitOutput(child, onOutput);
  const unguard = pid === null ? () => {} : host.guard({ group: pid });
  const leaderStart = pid === null ? Promise.resolve(null) : processStartTime(pid);
  const forget =
    pid === null
      ? Promise.resolve(() => {})
      : leaderStart.then((startTime) =>
          host.remember({ ...what, data: { pgid: pid, startTime, guard: token } }),
        );

  const exited = new Promise<ExitInfo>((resolve) => {
    const at = () => ({ at: Date.now(), uptimeMs: Date.now() - startedAt });
    child.once('exit', (code, signal) => resolve({ code, signal, ...at() }));
    child.once('error', (error) => {
      if (pid === null)
        resolve({ code: null, signal: null, ...at(), error: spawnProblem(error, options.cwd) });
    });
  });

  let stopping: Promise<void> | undefined;
  const stop = (timeoutMs: number): Promise<void> => {
    stopping ??= (async () => {
      if (pid === null) return;
      // A frozen (SIGSTOPped) group would only die at SIGKILL: wake it so it can stop politely.
      signalGroup(pid, 'SIGCONT');
      signalGroup(pid, 'SIGTERM');
      if (!(await waiter.wait(pid, timeoutMs))) {
        signalGroup(pid, 'SIGKILL');
        await waiter.wait(pid, KILL_WAIT_MS);
      }
      await exited;
      // Daemons that left the group (setsid) would outlive the instance and pile up at each restart.
      const since = Number(await leaderStart);
      if (Number.isFinite(since)) {
        const escaped = await escapedProcesses(token, since, pid);
        if (escaped.length > 0) {
          host.log('warn', 'ended processes the instance left outside its process group (daemons)', {
            service: what.service,
            instance: what.index,
            processes: escaped.map((p) => `${p.pid} ${p.command}`.slice(0, 200)),
          });
          await endProcesses(
            escaped.map((p) => p.pid),
            Math.min(timeoutMs, 2000),
          );
        }
      }
      unguard();
      (await forget)();
    })();
    return stopping;
  };
  const kill = () => {
    if (pid !== null) signalGroup(pid, 'SIGKILL');
  };
  const channel: IpcChannel | undefined = options.ipc
    ? {
        send: (message) => {
          if (!child.connected) return false;
          child.send(message as Parameters<typeof child.send>[0], (error: Error | null) => {
            // A channel that closed meanwhile: the exit says why.
            void error;
          });
          return true;
        },
        onMessage: (listener) => child.on('message', listener),
      }
    : undefined;
  return { pid, startedAt, exited, stop, kill, ...(channel ? { channel } : {}) };
}

class ProcessRuntime implements Runtime {
  readonly name = 'process';
  readonly #host: RuntimeHost;
  /** One scan of /proc per poll, however many instances are stopping at once. */
  readonly #waiter = new GroupWaiter();

  constructor(host: RuntimeHost) {
    this.#host = host;
  }

  async start(spec: InstanceSpec, onOutput: (line: OutputLine) => void): Promise<RunningInstance> {
    const { service, index } = spec;
    const port = await this.#host.ports.allocate();
    const env = { ...spec.env, PORT: String(port) };
    let group: LaunchedGroup;
    try {
      group = launchGroup(
        this.#host,
        { runtime: this.name, service: service.name, index },
        service.command,
        { cwd: service.cwd, env, waiter: this.#waiter },
        (stream, line) => onOutput({ service: service.name, index, stream, line }),
      );
    } catch (error) {
      this.#host.ports.release(port);
      throw error;
    }
    const host = this.#host;
    let released = false;
    // The slot stops an instance once its main process has exited too (to end what it left in its
    // group): the port is free for another instance only after that.
    const stop = async (timeoutMs: number) => {
      await group.stop(timeoutMs);
      if (released) return;
      released = true;
      host.ports.release(port);
    };
    return {
      id: group.pid === null ? `p-${service.name}-${index}-${group.startedAt}` : `p${group.pid}`,
      pid: group.pid,
      endpoint: { host: '127.0.0.1', port },
      startedAt: group.startedAt,
      exited: group.exited,
      stop,
      kill: group.kill,
      exec: (command, options) => runGuarded(host, command, { cwd: service.cwd, env, ...options }),
    };
  }

  async usage(instances: readonly RunningInstance[]): Promise<Map<string, Usage>> {
    const byGroup = await groupUsage(instances.map((i) => i.pid).filter((p): p is number => p !== null));
    const usage = new Map<string, Usage>();
    for (const instance of instances) {
      const found = instance.pid === null ? undefined : byGroup.get(instance.pid);
      if (found) usage.set(instance.id, found);
    }
    return usage;
  }

  async close(): Promise<void> {}
}

/** Ends the process groups a crashed run left behind (skipping pids reused by new processes), and the
 * processes that left those groups (setsid daemons, found by their guard token). */
export async function reapGroups(entries: readonly Remembered[]): Promise<Reaped[]> {
  // Nothing left by a crashed run (every start after a clean stop): no scan of every process on the machine.
  if (entries.length === 0) return [];
  const processes = await scanProcesses();
  const targets: { entry: Remembered; pgid: number; count: number }[] = [];
  const reaped: Reaped[] = [];
  for (const entry of entries) {
    const pgid = Number(entry.data.pgid);
    if (!Number.isInteger(pgid) || pgid <= 1) continue;
    // A live group leader with another start time is a new process that reused the pid: not ours.
    const leader = processes.find((p) => p.pid === pgid);
    if (leader && leader.startTime !== entry.data.startTime) continue;
    const members = processes.filter((p) => p.pgrp === pgid).map((p) => p.pid);
    const guard = typeof entry.data.guard === 'string' ? entry.data.guard : undefined;
    const escaped = guard ? await escapedProcesses(guard, Number(entry.data.startTime) || 0, pgid) : [];
    if (escaped.length > 0)
      await endProcesses(
        escaped.map((p) => p.pid),
        0,
      );
    if (!leader) {
      // The leader is gone, so its number may have been reused since by a group that is not ours (a
      // shell job whose first command ended): only processes that carry the run's guard token are ours,
      // ended one by one, never by the group's number.
      const ours = guard && members.length > 0 ? await carryingGuard(members, guard) : [];
      if (ours.length > 0) await endProcesses(ours, 0);
      const count = ours.length + escaped.length;
      if (count > 0)
        reaped.push({
          service: entry.service,
          index: entry.index,
          what: `${count} process${count === 1 ? '' : 'es'} of group ${pgid} (its leader gone)`,
        });
      continue;
    }
    const count = members.length;
    if (count > 0 || escaped.length > 0) targets.push({ entry, pgid, count: count + escaped.length });
  }
  for (const { pgid } of targets) {
    signalGroup(pgid, 'SIGCONT');
    signalGroup(pgid, 'SIGKILL');
  }
  const waiter = new GroupWaiter();
  await Promise.all(targets.map(({ pgid }) => waiter.wait(pgid, 2000)));
  return [
    ...reaped,
    ...targets.map(({ entry, pgid, count }) => ({
      service: entry.service,
      index: entry.index,
      what: `process group ${pgid} (${count} process${count === 1 ? '' : 'es'})`,
    })),
  ];
}

/** What a service may set for other runtimes that processes do not apply. */
export function unusedByProcesses(service: ResolvedService): string[] {
  const unused: string[] = [];
  if (service.memoryMb !== null) unused.push('memory');
  if (service.cpus !== null) unused.push('cpus');
  return unused;
}

export const processRuntime: RuntimePlugin = {
  name: 'process',
  unused: unusedByProcesses,
  open: async (host) => new ProcessRuntime(host),
  reap: (entries) => reapGroups(entries),
};
