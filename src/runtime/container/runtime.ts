// The container runtime: each instance is a container on podman (or docker), started attached so its
// output and exit reach msup as a process's would, on the host network with the PORT msup gives it,
// labelled by project, service and index, and removed when it ends. msup's own probes, restarts and
// balancing apply unchanged; the engine's health checks and restart policies are not used.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { constants as os } from 'node:os';
import path from 'node:path';
import type {
  CommandResult,
  InstanceSpec,
  Reaped,
  Remembered,
  RunningInstance,
  Runtime,
  RuntimeHost,
  RuntimePlugin,
  Usage,
} from '../../contract.js';
import type { ExitInfo, OutputLine, ResolvedCommand, ResolvedService } from '../../types.js';
import { treeUsage } from '../proc.js';
import { splitOutput } from '../process.js';
import { detectEngine, type Engine, type EngineName, engineCommand } from './engine.js';
import { ensureImage } from './image.js';

/** The labels msup puts on its containers. */
export const LABELS = { project: 'msup.project', service: 'msup.service', index: 'msup.index' } as const;

/** Exit codes the engine itself uses when `run` fails (125: the engine, 126: cannot invoke, 127: not found). */
const ENGINE_FAILURES = new Set([125, 126, 127]);
/** How long usage() waits for a running container's host pid it does not know yet. */
const USAGE_PID_WAIT_MS = 5000;

/** A container name is [a-zA-Z0-9][a-zA-Z0-9_.-]*: service names already are. */
function containerName(project: string, service: string, index: number): string {
  return `msup-${project}-${service}-${index}-${randomBytes(3).toString('hex')}`;
}

/** The signal a code of 128 + N stands for (a container's init reports its child's death so). */
function signalOf(code: number | null): string | null {
  if (code === null || code <= 128 || code > 128 + 64) return null;
  const found = Object.entries(os.signals).find(([, n]) => n === code - 128);
  return found ? found[0] : null;
}

/** The environment a container gets: what msup and the config add, not all of msup's own. */
function containerEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  const own: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (process.env[key] !== value || key.startsWith('MSUP_') || key === 'PORT') own[key] = value;
  }
  return own;
}

/** `command` as the container's argv: a string runs through the image's /bin/sh. */
function argvOf(command: ResolvedCommand): string[] {
  return command.shell ? ['/bin/sh', '-c', command.argv[0] as string] : [...command.argv];
}

class ContainerRuntime implements Runtime {
  readonly name = 'container';
  readonly #host: RuntimeHost;
  /** Each service's image, as last prepared (a rolling restart prepares again). */
  readonly #images = new Map<string, Promise<string>>();
  readonly #live = new Map<string, { engine: Engine; stop(): Promise<void> }>();

  constructor(host: RuntimeHost) {
    this.#host = host;
  }

  /** The engine for a service: its `container.engine`, else podman, else docker (detected once each). */
  engine(service: ResolvedService): Promise<Engine> {
    return detectEngine(service.container.engine);
  }

  async prepare(service: ResolvedService): Promise<void> {
    const image = (async () => {
      const engine = await this.engine(service);
      const began = Date.now();
      const ensured = await ensureImage(engine, service, this.#host.root, (message) =>
        this.#host.log('info', message, { service: service.name, runtime: this.name }),
      );
      if (ensured.built) {
        this.#host.log('info', 'image ready', {
          service: service.name,
          image: ensured.ref,
          kind: ensured.kind,
          ms: Date.now() - began,
        });
      }
      return ensured.ref;
    })();
    this.#images.set(service.name, image);
    // A failed build is tried again at the next launch.
    image.catch(() => {
      if (this.#images.get(service.name) === image) this.#images.delete(service.name);
    });
    await image;
  }

  async #image(service: ResolvedService): Promise<string> {
    const image = this.#images.get(service.name);
    if (image) return image;
    await this.prepare(service);
    return this.#image(service);
  }

  async start(spec: InstanceSpec, onOutput: (line: OutputLine) => void): Promise<RunningInstance> {
    const { service } = spec;
    const engine = await this.engine(service);
    const image = await this.#image(service);
    const port = await this.#host.ports.allocate();
    try {
      return this.#run(engine, image, spec, port, onOutput);
    } catch (error) {
      this.#host.ports.release(port);
      throw error;
    }
  }

  #run(
    engine: Engine,
    image: string,
    spec: InstanceSpec,
    port: number,
    onOutput: (line: OutputLine) => void,
  ): RunningInstance {
    const { service, index } = spec;
    const host = this.#host;
    const name = containerName(host.project, service.name, index);
    const env = containerEnv({ ...spec.env, PORT: String(port) });
    const stopSeconds = Math.max(1, Math.ceil(service.stopTimeoutMs / 1000));
    // The engine client's folder: podman's conmon writes an 'oom' file into its working folder when the
    // kernel kills the container for memory (on cgroup v1 hosts the engine itself then says false).
    const workdir = path.join(host.stateDir, 'containers', name);
    mkdirSync(workdir, { recursive: true, mode: 0o700 });
    // podman writes the container's host pid here as it starts it: read without asking the engine,
    // whose `inspect` can wait behind another command's storage lock (an image build) for seconds.
    const pidFile = path.join(workdir, 'pid');
    rmSync(pidFile, { force: true });
    const args = [
      'run',
      '--name',
      name,
      ...(engine.name === 'podman' ? ['--pidfile', pidFile] : []),
      '--init',
      '--network',
      'host',
      '--label',
      `${LABELS.project}=${host.project}`,
      '--label',
      `${LABELS.service}=${service.name}`,
      '--label',
      `${LABELS.index}=${index}`,
      '--stop-timeout',
      String(stopSeconds),
      '--workdir',
      service.cwd,
      // Values stay out of the engine's command line: `-e NAME` takes them from its environment.
      ...Object.keys(env).flatMap((key) => ['--env', key]),
      ...(service.container.mount === false
        ? []
        : ['--volume', `${host.root}:${host.root}:${service.container.mount === 'rw' ? 'rw' : 'ro'}`]),
      ...(service.memoryMb !== null
        ? ['--memory', `${service.memoryMb}m`, '--memory-swap', `${service.memoryMb}m`]
        : []),
      ...(service.cpus !== null ? ['--cpus', String(service.cpus)] : []),
      image,
      ...argvOf(service.command),
    ];
    const startedAt = Date.now();
    const child: ChildProcess = spawn(engine.bin, args, {
      cwd: workdir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    child.on('error', () => {});
    const engineSaid: string[] = [];
    splitOutput(child, (stream, line) => {
      if (stream === 'stderr' && /^(Error|error):/.test(line)) engineSaid.push(line);
      onOutput({ service: service.name, index, stream, line });
    });
    const unguardClient = child.pid === undefined ? () => {} : host.guard({ group: child.pid });
    const unguardContainer = host.guard({ command: [engine.bin, 'rm', '--force', '--time', '0', name] });
    const forget = host.remember({
      runtime: this.name,
      service: service.name,
      index,
      data: { name, engine: engine.name },
    });

    let hostPid: number | null = null;
    const inspect = async (format: string) =>
      (
        await engineCommand(engine, ['container', 'inspect', '--format', format, name], { timeoutMs: 10_000 })
      ).stdout.trim();
    // The container's init, seen from the host: status shows it, usage counts its process tree.
    const fromPidFile = () => {
      try {
        return Number(readFileSync(pidFile, 'utf8').trim());
      } catch {
        return 0;
      }
    };
    const learnPid = (async () => {
      for (let i = 0; i < 200 && hostPid === null && child.exitCode === null; i++) {
        // podman: its pid file, polled (200 × 50 ms); another engine, or no file by then: inspect.
        const pid =
          engine.name === 'podman' && i < 199 ? fromPidFile() : Number(await inspect('{{.State.Pid}}'));
        if (Number.isInteger(pid) && pid > 0) hostPid = pid;
        else await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const exited = new Promise<ExitInfo>((resolve) => {
      child.once('exit', async (clientCode, clientSignal) => {
        const at = Date.now();
        const uptimeMs = at - startedAt;
        const state = await inspect('{{.State.ExitCode}} {{.State.OOMKilled}}').catch(() => '');
        const [codeText, oomSaid] = state.split(' ');
        const known = state !== '' && codeText !== undefined && /^-?\d+$/.test(codeText);
        const code = known ? Number(codeText) : clientCode;
        if (!known && ENGINE_FAILURES.has(clientCode ?? 0)) {
          resolve({
            code: null,
            signal: null,
            at,
            uptimeMs,
            error: engineSaid.at(-1) ?? `${engine.name} run failed (exit ${clientCode})`,
          });
          return;
        }
        const oom = oomSaid === 'true' || existsSync(path.join(workdir, 'oom'));
        resolve({
          code,
          signal: signalOf(code) ?? (known ? null : clientSignal),
          at,
          uptimeMs,
          ...(oom ? { reason: 'OOMKilled' } : {}),
        });
      });
    });

    let stopping: Promise<void> | undefined;
    const cleanUp = async () => {
      await exited;
      await engineCommand(engine, ['rm', '--force', '--time', '0', name], { timeoutMs: 30_000 });
      unguardClient();
      unguardContainer();
      forget();
      this.#live.delete(name);
      host.ports.release(port);
      rmSync(workdir, { recursive: true, force: true });
    };
    const stop = (timeoutMs: number): Promise<void> => {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          await engineCommand(engine, ['kill', '--signal', 'TERM', name], { timeoutMs: 10_000 });
          const ended = await Promise.race([
            exited.then(() => true),
            new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs)),
          ]);
          if (!ended) {
            await engineCommand(engine, ['kill', '--signal', 'KILL', name], { timeoutMs: 10_000 });
          }
          // The client ends when the container does; a client that hangs is ended too.
          const gone = await Promise.race([
            exited.then(() => true),
            new Promise<boolean>((r) => setTimeout(() => r(false), 10_000)),
          ]);
          if (!gone) child.kill('SIGKILL');
        }
        await cleanUp();
      })();
      return stopping;
    };
    this.#live.set(name, { engine, stop: () => stop(0) });

    const exec = async (
      command: ResolvedCommand,
      options: { timeoutMs: number; signal?: AbortSignal },
    ): Promise<CommandResult> => {
      const result = await engineCommand(
        engine,
        [
          'exec',
          ...Object.keys(env).flatMap((key) => ['--env', `${key}=${env[key]}`]),
          name,
          ...argvOf(command),
        ],
        { timeoutMs: options.timeoutMs, ...(options.signal ? { signal: options.signal } : {}) },
      );
      if (result.code === null) return { code: null, signal: null, timedOut: !options.signal?.aborted };
      if (ENGINE_FAILURES.has(result.code) && /Error:/.test(result.stderr))
        return {
          code: null,
          signal: null,
          timedOut: false,
          error: result.stderr.trim().split('\n').at(-1) ?? '',
        };
      return { code: result.code, signal: signalOf(result.code), timedOut: false };
    };

    return {
      id: name,
      get pid() {
        return hostPid;
      },
      endpoint: { host: '127.0.0.1', port },
      startedAt,
      exited,
      stop,
      kill: () => {
        void engineCommand(engine, ['kill', '--signal', 'KILL', name], { timeoutMs: 10_000 });
      },
      exec,
      // for usage(): resolved once the container runs
      learnPid,
    } as RunningInstance & { learnPid: Promise<void> };
  }

  async usage(instances: readonly RunningInstance[]): Promise<Map<string, Usage>> {
    // A container that already serves may not have its host pid yet (`inspect` is slow on a busy
    // machine): wait for it a little rather than report no usage.
    await Promise.all(
      instances.map((instance) => {
        const learning = (instance as { learnPid?: Promise<void> }).learnPid;
        return learning && instance.pid === null
          ? Promise.race([learning, new Promise((r) => setTimeout(r, USAGE_PID_WAIT_MS).unref())])
          : undefined;
      }),
    );
    const roots = new Map<number, string>();
    for (const instance of instances) if (instance.pid !== null) roots.set(instance.pid, instance.id);
    const byRoot = await treeUsage([...roots.keys()]);
    const usage = new Map<string, Usage>();
    for (const [root, u] of byRoot) usage.set(roots.get(root) as string, u);
    return usage;
  }

  async close(): Promise<void> {
    // A safety net: every container still here goes (each normally left with its instance).
    await Promise.all([...this.#live.values()].map((c) => c.stop()));
  }
}

/** Removes containers of this project a crashed run left: those it remembered, and any with its label. */
async function reapContainers(entries: readonly Remembered[], host: RuntimeHost): Promise<Reaped[]> {
  const engines = new Set<EngineName | null>(entries.map((e) => (e.data.engine as EngineName) ?? null));
  if (engines.size === 0) engines.add(null);
  const reaped: Reaped[] = [];
  for (const preferred of engines) {
    const engine = await detectEngine(preferred).catch(() => undefined);
    if (!engine) continue;
    const listed = await engineCommand(
      engine,
      [
        'ps',
        '--all',
        '--filter',
        `label=${LABELS.project}=${host.project}`,
        '--format',
        `{{.Names}} {{.Labels}}`,
      ],
      { timeoutMs: 30_000 },
    );
    const names = new Map<string, { service: string; index: number }>();
    for (const entry of entries)
      names.set(String(entry.data.name), { service: entry.service, index: entry.index });
    for (const line of listed.stdout.split('\n')) {
      const name = line.split(' ')[0];
      if (!name) continue;
      const service = /msup\.service:(\S+?)[\s\]]/.exec(line)?.[1] ?? '?';
      const index = Number(/msup\.index:(\d+)/.exec(line)?.[1] ?? 0);
      if (!names.has(name)) names.set(name, { service, index });
    }
    const present = new Set(listed.stdout.split('\n').map((l) => l.split(' ')[0]));
    const gone = [...names].filter(([name]) => present.has(name));
    if (gone.length === 0) continue;
    await engineCommand(engine, ['rm', '--force', '--time', '0', ...gone.map(([name]) => name)], {
      timeoutMs: 60_000,
    });
    for (const [name, { service, index }] of gone) reaped.push({ service, index, what: `container ${name}` });
  }
  return reaped;
}

export const containerRuntime: RuntimePlugin = {
  name: 'container',
  async open(host) {
    return new ContainerRuntime(host);
  },
  reap: reapContainers,
};
