// The runtimes of one run, and what they share: the project lock (the state file), the crash guard (the
// watchdog), the port allocator, and reaping what a crashed run left. Each runtime is opened once, when a
// service first needs it.
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type {
  Directory,
  Reaped,
  Remembered,
  RunningInstance,
  Runtime,
  RuntimeHost,
  RuntimePlugin,
  Usage,
} from './contract.js';
import { MsupError } from './errors.js';
import { removeLeftovers } from './leftovers.js';
import { StateFile } from './project/state-file.js';
import { Watchdog } from './project/watchdog.js';
import { containerRuntime } from './runtime/container/runtime.js';
import { functionRuntime } from './runtime/function/runtime.js';
import { PortAllocator } from './runtime/ports.js';
import { processStartTime } from './runtime/proc.js';
import { processRuntime } from './runtime/process.js';
import { sidecarRuntime } from './runtime/sidecar/runtime.js';
import { unknownRuntime } from './start-options.js';
import type { LogLevel, ResolvedConfig, RuntimeName } from './types.js';

export const RUNTIME_PLUGINS: Readonly<Partial<Record<RuntimeName, RuntimePlugin>>> = {
  process: processRuntime,
  container: containerRuntime,
  function: functionRuntime,
  sidecar: sidecarRuntime(processRuntime),
};

export type RuntimeLog = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

/** The config fitted to the runtimes its services run on (each plugin's `adjust`). Pure. */
export function adjustConfig(
  config: ResolvedConfig,
  plugins: Readonly<Partial<Record<string, RuntimePlugin>>> = RUNTIME_PLUGINS,
): ResolvedConfig {
  if (!config.services.some((s) => plugins[s.runtime]?.adjust)) return config;
  const services = config.services.map((s) => Object.freeze(plugins[s.runtime]?.adjust?.(s) ?? s));
  return Object.freeze({ ...config, services: Object.freeze(services) });
}

/** Each setting a service gives that its runtime does not apply, as a config path. Pure. */
export function unusedSettings(
  config: ResolvedConfig,
  plugins: Readonly<Partial<Record<string, RuntimePlugin>>> = RUNTIME_PLUGINS,
): { path: string; runtime: string }[] {
  return config.services.flatMap((s) =>
    (plugins[s.runtime]?.unused?.(s) ?? []).map((key) => ({
      path: `services.${s.name}.${key}`,
      runtime: s.runtime,
    })),
  );
}

/** A short, stable id for a project folder (container labels and names). */
export function projectId(root: string): string {
  return createHash('sha256').update(path.resolve(root)).digest('hex').slice(0, 10);
}

/**
 * What msup writes under .msup through a file of its own (named after its pid) renamed into place once
 * whole: a crash in between leaves that file. The state file's (`state.json.<pid>.tmp`, and `.new` as it
 * takes the project), the image hash caches' (`images/hashes-….json.<pid>.tmp`) and the mesh CA's
 * (`mesh/ca.key.<pid>.<random>.tmp`, a copy of its private key).
 */
const STATE_LEFTOVERS: readonly (readonly [string, RegExp])[] = [
  ['.', /^state\.json\.(?<pid>\d+)\.(?:tmp|new)$/],
  ['images', /^hashes-[0-9a-f]+\.json\.(?<pid>\d+)\.tmp$/],
  ['mesh', /^ca\.(?:crt|key)\.(?<pid>\d+)\.[0-9a-f]{12}\.tmp$/],
];

export class Runtimes {
  readonly host: RuntimeHost;
  readonly #state: StateFile;
  readonly #watchdog: Watchdog;
  readonly #plugins: Readonly<Partial<Record<string, RuntimePlugin>>>;
  readonly #open = new Map<string, Promise<Runtime>>();
  readonly #previous: readonly Remembered[];
  #entries = 0;
  #closed = false;

  private constructor(
    host: Omit<RuntimeHost, 'remember' | 'guard'>,
    state: StateFile,
    previous: readonly Remembered[],
    plugins: Readonly<Partial<Record<string, RuntimePlugin>>>,
  ) {
    this.#state = state;
    this.#previous = previous;
    this.#plugins = plugins;
    this.#watchdog = new Watchdog();
    this.host = {
      ...host,
      remember: (entry) =>
        this.#state.remember(`${entry.runtime}:${entry.service}#${entry.index}:${this.#entries++}`, entry),
      guard: (what) =>
        'group' in what
          ? this.#watchdog.watch(what.group, { afterCommands: what.afterCommands === true })
          : this.#watchdog.onDeath(what.command),
    };
  }

  /**
   * Takes the project (MSUP_ALREADY_RUNNING when another msup has it) and starts the crash guard.
   * What a crashed run left is reaped by `reap()`, once the runtimes it used can be asked.
   */
  static async open(
    root: string,
    log: RuntimeLog,
    directory: Directory,
    plugins: Readonly<Partial<Record<string, RuntimePlugin>>> = RUNTIME_PLUGINS,
  ): Promise<Runtimes> {
    const stateDir = path.join(root, '.msup');
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const { state, previous } = await StateFile.acquire(stateDir, {
      pid: process.pid,
      startTime: await processStartTime(process.pid),
      startTimeOf: processStartTime,
      onError: (error) => log('warn', 'could not write the state file', { error: error.message }),
    });
    // Holding the project, what a crashed run of it left half written goes (see STATE_LEFTOVERS).
    for (const [folder, pattern] of STATE_LEFTOVERS) {
      const removed = removeLeftovers(path.join(stateDir, folder), pattern);
      if (removed.length > 0) log('debug', 'removed files a crashed run left', { folder, files: removed });
    }
    const host = { root, stateDir, project: projectId(root), ports: new PortAllocator(), log, directory };
    return new Runtimes(host, state, Object.values(previous?.entries ?? {}), plugins);
  }

  /**
   * Ends what a crashed run left: each runtime it used reaps its own entries, and each runtime named in
   * `using` may look for more (containers by label).
   */
  async reap(using: readonly string[]): Promise<Reaped[]> {
    const byRuntime = new Map<string, Remembered[]>(using.map((name) => [name, []]));
    for (const entry of this.#previous) {
      byRuntime.set(entry.runtime, [...(byRuntime.get(entry.runtime) ?? []), entry]);
    }
    const reaped: Reaped[] = [];
    for (const [name, entries] of byRuntime) {
      const plugin = this.#plugins[name];
      if (!plugin) continue;
      try {
        reaped.push(...(await plugin.reap(entries, this.host)));
      } catch (error) {
        this.host.log('warn', 'could not reap what a crashed run left', {
          runtime: name,
          error: (error as Error).message,
        });
      }
    }
    return reaped;
  }

  /** The runtime by name, opened on first use; rejects when it cannot run here. */
  get(name: string): Promise<Runtime> {
    let opened = this.#open.get(name);
    if (!opened) {
      const plugin = this.#plugins[name];
      if (!plugin) return Promise.reject(new MsupError('MSUP_USAGE', unknownRuntime(name)));
      opened = plugin.open(this.host);
      // A failed open may be tried again (a later reload, once podman is installed).
      opened.catch(() => this.#open.delete(name));
      this.#open.set(name, opened);
    }
    return opened;
  }

  /** Runtimes opened so far, by name (for synchronous lookups once a service has started). */
  async opened(): Promise<Map<string, Runtime>> {
    const result = new Map<string, Runtime>();
    for (const [name, promise] of this.#open) {
      const runtime = await promise.catch(() => undefined);
      if (runtime) result.set(name, runtime);
    }
    return result;
  }

  /** CPU and memory of running instances, by id, asking each runtime about its own. */
  async usage(instances: ReadonlyMap<string, readonly RunningInstance[]>): Promise<Map<string, Usage>> {
    const usage = new Map<string, Usage>();
    const opened = await this.opened();
    await Promise.all(
      [...instances].map(async ([name, list]) => {
        const runtime = opened.get(name);
        if (!runtime || list.length === 0) return;
        for (const [id, u] of await runtime.usage(list).catch(() => new Map<string, Usage>()))
          usage.set(id, u);
      }),
    );
    return usage;
  }

  /** Closes every runtime, says goodbye to the watchdog and releases the project. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const runtime of (await this.opened()).values()) {
      await runtime.close().catch((error: Error) =>
        this.host.log('warn', 'a runtime did not close cleanly', {
          runtime: runtime.name,
          error: error.message,
        }),
      );
    }
    // A safety net: a group still guarded was lost track of; it must not outlive msup.
    for (const pgid of this.#watchdog.groups()) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {}
    }
    await this.#watchdog.close();
    this.#state.release();
  }
}
