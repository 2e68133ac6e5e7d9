// The container runtime: each instance is a container on podman (or docker), created and started
// through the engine's REST API (engine-service.ts: one podman service per run, or docker's engine) and
// attached to before it starts, so its output and exit reach msup as a process's would; on the host
// network with the PORT msup gives it, labelled by project, service and index, and removed when it ends.
// msup's own probes, restarts and balancing apply unchanged; the engine's health checks and restart
// policies are not used. Exec probes, the crash guard and reaping use the engine's command line.
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import path from 'node:path';
import { readEnvFiles } from '../../config/env-file.js';
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
import { MsupError } from '../../errors.js';
import { privateDir } from '../../private-files.js';
import type { ExitInfo, OutputLine, ResolvedCommand, ResolvedService } from '../../types.js';
import { LineSplitter } from '../lines.js';
import { treeUsage } from '../proc.js';
import { detectEngine, type Engine, type EngineName, engineCommand } from './engine.js';
import { ApiError, ApiUnreachable } from './engine-api.js';
import { EngineService, reapServices, SERVICE_ENTRY } from './engine-service.js';
import { EXEC_KEEP_CHARS, execResult, signalOf } from './exec-result.js';
import { type EnsuredImage, ensureImage, type ImageKind } from './image.js';
import { removeScratchLeftovers } from './image-build.js';

/** The labels msup puts on its containers. */
export const LABELS = { project: 'msup.project', service: 'msup.service', index: 'msup.index' } as const;

/** A request whose service died meanwhile is sent again (through a new one) this often, this far apart. */
const API_RETRIES = 50;
const API_RETRY_MS = 100;
/** How long a stop waits for a signalled container's exit before it removes the container by force. */
const STOP_EXIT_WAIT_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the runtime reads of the engine's `GET /containers/NAME/json`. */
interface InspectState {
  State?: { Running?: boolean; Pid?: number; ExitCode?: number; OOMKilled?: boolean };
}
/** The exit's reason when the container is gone before msup removed it (`podman rm -f`): its code is lost. */
export const REMOVED_OUTSIDE = 'removed outside msup';

/** How long usage() waits for a running container's host pid it does not know yet. */
const USAGE_PID_WAIT_MS = 5000;

/** How long the `kill -TERM -1` exec may take. */
const SIGNAL_ALL_MS = 5000;

/**
 * `kill -TERM -1`, only where pid 1 is the init msup asked for: in a container that shares the host's pid
 * namespace (`pidns = "host"` in containers.conf), -1 would be every process of the host msup's user may
 * signal. Otherwise it fails, and the init's own signal is used. (`read`: the minimal image has no `cat`.)
 */
const SIGNAL_ALL =
  'read -r init < /proc/1/comm; case "$init" in catatonit|tini|docker-init|podman-init) kill -TERM -1;; *) exit 3;; esac';

/**
 * Sends SIGTERM to every process of container `name` but its init (pid 1), from inside it: `exec` of
 * `/bin/sh -c 'kill -TERM -1'` as root (kill(2) with -1 spares pid 1 and the caller). Whether it worked.
 * The engine's command, not the API: podman keeps an exec session made through its API (two conmon
 * processes) for 5 minutes after it ended, whatever became of the container.
 */
async function terminateAll(engine: Engine, name: string): Promise<boolean> {
  const result = await engineCommand(engine, ['exec', '--user', '0', name, '/bin/sh', '-c', SIGNAL_ALL], {
    timeoutMs: SIGNAL_ALL_MS,
  });
  return result.code === 0;
}

/** A container name is [a-zA-Z0-9][a-zA-Z0-9_.-]*: service names already are. */
function containerName(project: string, service: string, index: number): string {
  return `msup-${project}-${service}-${index}-${randomBytes(3).toString('hex')}`;
}

/**
 * The environment a container gets: what msup and the config add (`given`: the service's `env` and its
 * env files' keys, kept even where msup's own environment has the same value), not all of msup's own.
 */
function containerEnv(
  env: Readonly<Record<string, string>>,
  given: ReadonlySet<string>,
): Record<string, string> {
  const own: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (given.has(key) || process.env[key] !== value || key.startsWith('MSUP_') || key === 'PORT')
      own[key] = value;
  }
  return own;
}

/**
 * A line of `ps --format '{{.Names}} {{.Labels}}'` (podman prints the labels as `map[k:v …]`, docker as
 * `k=v,…`) when it is a container msup made for `project`: named as msup names them, for the service and
 * index its labels give, and labelled `msup.index`, which msup's images do not carry. A container the user
 * ran from msup's image inherits the image's project and service labels, and is left alone.
 */
export function ownContainer(
  project: string,
  line: string,
): { name: string; service: string; index: number } | null {
  const [name = '', ...rest] = line.trim().split(' ');
  const labels = ` ${rest
    .join(' ')
    .replace(/^map\[|\]$/g, '')
    .replaceAll(',', ' ')} `;
  const label = (key: string) => new RegExp(` ${key.replaceAll('.', '\\.')}[:=](\\S+)`).exec(labels)?.[1];
  const service = label(LABELS.service);
  const index = label(LABELS.index);
  if (label(LABELS.project) !== project || service === undefined || !/^\d+$/.test(index ?? '')) return null;
  const prefix = `msup-${project}-${service}-${index}-`;
  if (!name.startsWith(prefix) || !/^[0-9a-f]{6}$/.test(name.slice(prefix.length))) return null;
  return { name, service, index: Number(index) };
}

/**
 * The engine's command that removes containers at once, with their anonymous volumes (an image's
 * `VOLUME`, such as postgres's data: a new one per container, left behind for ever without `--volumes`);
 * docker's `rm` has no `--time` (it kills anyway). Named volumes are never removed.
 */
export function removeArgs(engine: Pick<Engine, 'name'>, names: readonly string[]): string[] {
  return ['rm', '--force', '--volumes', ...(engine.name === 'podman' ? ['--time', '0'] : []), ...names];
}

/**
 * What a string command's shell does on SIGTERM: it outlives every other process of the container it may
 * signal (`kill -0 -1` spares the init and itself), then exits as killed by it, running nothing after the
 * command. A trap runs once a foreground command ended, but at once in `wait`, and a subshell's own die at
 * once: the loop covers an app in the background or below a subshell. With neither `sleep` nor `node` in
 * the image, the shell exits at once, as before.
 */
const ON_TERM =
  "trap '' TERM; wait; while kill -0 -1 2>/dev/null; do " +
  // msup's minimal image has no `sleep`, but has node.
  'sleep 0.2 2>/dev/null || node -e "setTimeout(() => {}, 200)" 2>/dev/null || break; done; exit 143';

/**
 * `command` as the container's own argv. A string's shell waits for the app when SIGTERM comes (ON_TERM):
 * the app, signalled with every process of the container at stop (terminateAll), has its grace period.
 * Without the trap the shell died at once, its init with it, and the engine SIGKILLed the app.
 */
export function containerArgv(command: ResolvedCommand): string[] {
  return command.shell
    ? ['/bin/sh', '-c', `trap ${shellQuote(ON_TERM)} TERM\n${command.argv[0] as string}`]
    : [...command.argv];
}

/** One word for /bin/sh: in single quotes, each ' as '\''. */
function shellQuote(text: string): string {
  return `'${text.replace(/'/g, "'\\''")}'`;
}

/** `command` as an argv (for an exec probe): a string runs through the image's /bin/sh. */
function argvOf(command: ResolvedCommand): string[] {
  return command.shell ? ['/bin/sh', '-c', command.argv[0] as string] : [...command.argv];
}

/** One entry of the API's `HostConfig.Mounts` (the same shape for podman's compatible API and docker's). */
export interface MountSpec {
  Type: 'bind';
  Source: string;
  Target: string;
  ReadOnly: boolean;
}

/** The empty folder mounted over the project's `.msup` in a container (see containerMounts). */
export function hiddenStateView(root: string): string {
  return path.join(root, '.msup', 'empty');
}

/**
 * The project folder inside the container, at the same path (`container.mount`). As `Mounts` entries, not
 * `Binds` strings (`SRC:DST:ro`): the engine splits those at every `:`, so a project path with one in it
 * failed every container's create (`incorrect volume format`).
 *
 * Its `.msup` is hidden by an empty folder of msup's, mounted read-only over it (the engines mount it after
 * the project folder, as they order mounts by depth): there are msup's control socket (any code in a
 * container could stop or scale msup, or ask for the dashboard's token), its logs, its state and the mesh
 * CA's key. A rootless container's root is the user's uid on the host, so the socket's mode does not keep
 * it out. Not a tmpfs: podman copies what the folder under it holds into a tmpfs (`tmpcopyup`), and its
 * compatible API has no way to say `notmpcopyup` that docker's would accept.
 */
export function containerMounts(root: string, mount: ResolvedService['container']['mount']): MountSpec[] {
  if (mount === false) return [];
  return [
    { Type: 'bind', Source: root, Target: root, ReadOnly: mount !== 'rw' },
    { Type: 'bind', Source: hiddenStateView(root), Target: path.join(root, '.msup'), ReadOnly: true },
  ];
}

/**
 * The container's working folder, where msup sets one: the service's `cwd` in msup's minimal image (its
 * copy of the folder is there) and where the project folder is mounted. With `mount: false`, an image of
 * the user's (`container.image`, a Containerfile) runs in its own WORKDIR, as the exports run it: the
 * host's path is not in it, and the engine made it, empty (`Cannot find module`).
 */
export function workingDir(service: ResolvedService, kind: ImageKind): string | undefined {
  return kind === 'minimal' || service.container.mount !== false ? service.cwd : undefined;
}

class ContainerRuntime implements Runtime {
  readonly name = 'container';
  readonly #host: RuntimeHost;
  /** Each service's image, as last prepared (a rolling restart prepares again). */
  readonly #images = new Map<string, Promise<EnsuredImage>>();
  readonly #live = new Map<string, { engine: Engine; stop(): Promise<void> }>();
  readonly #services = new Map<EngineName, EngineService>();
  /** msup's stop: ends an image build under way (close()). */
  readonly #stopping = new AbortController();
  #closed = false;

  constructor(host: RuntimeHost) {
    this.#host = host;
    // One listener per engine command under way (a service each, not serialised for given images): 11 or
    // more container services printed Node's MaxListenersExceededWarning, a leak that is not one.
    setMaxListeners(0, this.#stopping.signal);
  }

  /** The engine for a service: its `container.engine`, else podman, else docker (detected once each). */
  engine(service: ResolvedService): Promise<Engine> {
    return detectEngine(service.container.engine);
  }

  /** The engine is detected once per process: prepare() and start() find it again without asking. */
  async check(service: ResolvedService): Promise<void> {
    await this.engine(service);
  }

  async prepare(service: ResolvedService): Promise<void> {
    const image = (async () => {
      const engine = await this.engine(service);
      // The engine's API service starts meanwhile (podman's: about 0.1 s); a failure shows at the launch.
      this.#service(engine)
        .api()
        .catch(() => {});
      const began = Date.now();
      const ensured = await ensureImage(
        engine,
        service,
        this.#host.root,
        (message, level = 'info') =>
          this.#host.log(level, message, { service: service.name, runtime: this.name }),
        this.#stopping.signal,
      );
      if (ensured.built) {
        this.#host.log('info', 'image ready', {
          service: service.name,
          image: ensured.ref,
          kind: ensured.kind,
          ms: Date.now() - began,
        });
      }
      return ensured;
    })();
    this.#images.set(service.name, image);
    // A failed build is tried again at the next launch.
    image.catch(() => {
      if (this.#images.get(service.name) === image) this.#images.delete(service.name);
    });
    await image;
  }

  async #image(service: ResolvedService): Promise<EnsuredImage> {
    const image = this.#images.get(service.name);
    if (image) return image;
    await this.prepare(service);
    return this.#image(service);
  }

  /** The engine's API service (podman's own, started at the first container; docker's engine). */
  #service(engine: Engine): EngineService {
    // Once closed, nothing starts another service: one started after close() would outlive msup.
    if (this.#closed) throw new MsupError('MSUP_STOPPED', 'the container runtime is closed');
    let service = this.#services.get(engine.name);
    if (!service) {
      service = new EngineService(engine, this.#host);
      this.#services.set(engine.name, service);
    }
    return service;
  }

  async start(spec: InstanceSpec, onOutput: (line: OutputLine) => void): Promise<RunningInstance> {
    const { service } = spec;
    const engine = await this.engine(service);
    const image = await this.#image(service);
    const engineService = this.#service(engine);
    // Before a port is taken: an engine whose API does not start is MSUP_NO_CONTAINER_ENGINE.
    await engineService.api();
    const port = await this.#host.ports.allocate();
    try {
      return await this.#run(engine, engineService, image, spec, port, onOutput);
    } catch (error) {
      this.#host.ports.release(port);
      throw error;
    }
  }

  async #run(
    engine: Engine,
    engineService: EngineService,
    image: EnsuredImage,
    spec: InstanceSpec,
    port: number,
    onOutput: (line: OutputLine) => void,
  ): Promise<RunningInstance> {
    const { service, index } = spec;
    const host = this.#host;
    const name = containerName(host.project, service.name, index);
    const path = `/containers/${name}`;
    const given = new Set([
      ...Object.keys(service.env),
      ...Object.keys(readEnvFiles(host.root, service.envFiles).env),
    ]);
    const env = containerEnv({ ...spec.env, PORT: String(port) }, given);
    const stopSeconds = Math.max(1, Math.ceil(service.stopTimeoutMs / 1000));
    const memoryBytes = service.memoryMb === null ? undefined : service.memoryMb * 1024 * 1024;
    // Made (or checked: a real folder of this user's, not a link) before each create: kept empty, as msup
    // puts nothing there, and the engine refuses a bind whose source is missing.
    if (service.container.mount !== false) privateDir(hiddenStateView(host.root));
    const cwd = workingDir(service, image.kind);
    const body = {
      Image: image.ref,
      Cmd: containerArgv(service.command),
      Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
      ...(cwd !== undefined ? { WorkingDir: cwd } : {}),
      Labels: {
        [LABELS.project]: host.project,
        [LABELS.service]: service.name,
        [LABELS.index]: String(index),
      },
      StopTimeout: stopSeconds,
      HostConfig: {
        NetworkMode: 'host',
        Init: true,
        Mounts: containerMounts(host.root, service.container.mount),
        ...(memoryBytes !== undefined ? { Memory: memoryBytes, MemorySwap: memoryBytes } : {}),
        ...(service.cpus !== null ? { NanoCpus: Math.round(service.cpus * 1e9) } : {}),
      },
    };
    // A request through the API, through a new service if the one it used died meanwhile.
    const call = async (method: string, where: string, timeoutMs?: number): Promise<unknown> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await (await engineService.api()).call(method, where, undefined, timeoutMs);
        } catch (error) {
          if (!(error instanceof ApiUnreachable) || attempt >= API_RETRIES) throw error;
          await sleep(API_RETRY_MS);
        }
      }
    };

    // Removes the container through the API, else through the command line (a dead or closed service).
    const remove = () =>
      call('DELETE', `${path}?force=1&v=1`, 30_000).then(
        () => {},
        () => engineCommand(engine, removeArgs(engine, [name]), { timeoutMs: 30_000 }).then(() => {}),
      );

    const startedAt = Date.now();
    const unguardContainer = host.guard({ command: [engine.bin, ...removeArgs(engine, [name])] });
    const forget = host.remember({
      runtime: this.name,
      service: service.name,
      index,
      data: { name, engine: engine.name },
    });
    const splitters = {
      stdout: new LineSplitter((line) => onOutput({ service: service.name, index, stream: 'stdout', line })),
      stderr: new LineSplitter((line) => onOutput({ service: service.name, index, stream: 'stderr', line })),
    };
    const onData = (stream: 'stdout' | 'stderr', chunk: Buffer) => splitters[stream].push(chunk);
    let outputEnded: Promise<void>;
    try {
      const api = await engineService.api();
      await api.call('POST', `/containers/create?name=${name}`, body);
      // Attached before it starts: its first lines are not missed.
      outputEnded = (await api.attach(name, onData)).ended;
      await api.call('POST', `${path}/start`);
    } catch (error) {
      // A create that timed out may still have made the container: it goes before the guard does.
      await remove();
      unguardContainer();
      forget();
      if (error instanceof MsupError) throw error;
      throw new Error(`${engine.name} could not start the container: ${(error as Error).message}`);
    }

    let hostPid: number | null = null;
    let exitKnown = false;
    /** Set once msup removes the container itself: a 404 after it is not a removal outside msup. */
    let removing = false;
    const inspect = async () => (await call('GET', `${path}/json`, 10_000)) as InspectState;
    // The container's init, seen from the host: status shows it, usage counts its process tree.
    const learnPid = (async () => {
      for (let i = 0; i < 20 && hostPid === null && !exitKnown; i++) {
        const pid = await inspect().then(
          (state) => state.State?.Pid ?? 0,
          () => 0,
        );
        if (Number.isInteger(pid) && pid > 0) hostPid = pid;
        else await sleep(100);
      }
    })();

    // The exit: the attach stream ends when the container does (at once), then `inspect` confirms it; the
    // engine's wait stands behind it (a stream broken by a service that died). podman's compatible
    // `wait?condition=not-running` polls without pause (about 70% of a core per waiting container,
    // measured on podman 4.3.1), so podman's own wait is used; docker's compatible one is fine.
    const waitPath =
      engine.name === 'podman'
        ? `/libpod${path}/wait?condition=stopped&condition=exited`
        : `${path}/wait?condition=not-running`;
    const firstOutput = outputEnded;
    const endedByOutput = (async () => {
      await firstOutput;
      for (let i = 0; i < 20; i++) {
        const state = await inspect().catch(() => null);
        if (state?.State?.Running === false) return;
        await sleep(50 * (i + 1));
      }
      await new Promise(() => {}); // still running: the engine's wait answers
    })();
    const exited = (async (): Promise<ExitInfo> => {
      let failure = '';
      await Promise.race([
        endedByOutput,
        call('POST', waitPath, 0).catch((error: Error) => {
          failure = error.message;
        }),
      ]);
      let removed = false;
      const lastState = () =>
        inspect().catch((error: unknown) => {
          // Gone from the engine, and not by msup's own removal (a stop whose exit did not come in time).
          removed = error instanceof ApiError && error.status === 404 && !removing;
          return null;
        });
      let state = await lastState();
      // A wait the engine refused while the container runs: the end of its output tells.
      if (state?.State?.Running === true) {
        await endedByOutput;
        state = await lastState();
      }
      // Only now is the exit known: stop() still signals a container whose wait merely failed.
      exitKnown = true;
      const at = Date.now();
      const uptimeMs = at - startedAt;
      const exitCode = state?.State?.ExitCode;
      if (typeof exitCode !== 'number' || exitCode < 0) {
        // It ran: a reason, not `error` (which says it could not start). A container removed by hand
        // (`podman rm -f`) is gone with its exit code, and the engine answers 404 for it.
        const reason = removed ? REMOVED_OUTSIDE : `its exit is unknown${failure ? ` (${failure})` : ''}`;
        return { code: null, signal: null, at, uptimeMs, reason };
      }
      const oom =
        state?.State?.OOMKilled === true || (exitCode === 137 && engineService.oomMarkerSince(startedAt));
      return {
        code: exitCode,
        signal: signalOf(exitCode),
        at,
        uptimeMs,
        ...(oom ? { reason: 'OOMKilled' } : {}),
      };
    })();

    let stopping: Promise<void> | undefined;
    // The output stream ends with the container, or when the service goes (then the log is followed).
    void (async () => {
      for (;;) {
        await outputEnded;
        const at = Date.now() / 1000;
        const done = await Promise.race([exited.then(() => true), sleep(1000).then(() => false)]);
        if (done || stopping) break;
        try {
          outputEnded = (await (await engineService.api()).logs(name, at, onData)).ended;
        } catch {
          break;
        }
      }
      splitters.stdout.flush();
      splitters.stderr.flush();
    })();

    const cleanUp = async () => {
      // Bounded: an engine that no longer answers must not hold msup's stop; the removal below forces it.
      await Promise.race([exited, sleep(STOP_EXIT_WAIT_MS)]);
      removing = true;
      await remove();
      unguardContainer();
      forget();
      this.#live.delete(name);
      host.ports.release(port);
    };
    const signal = (which: 'TERM' | 'KILL') =>
      call('POST', `${path}/kill?signal=${which}`, 10_000).catch(() => {});
    // The container's init (catatonit, tini) passes a signal to its child only: a string command's child
    // is /bin/sh, and the app it started never saw SIGTERM (SIGKILLed at the grace's end). Every process
    // of the container but its init gets it instead, as a process's group does under the process runtime;
    // through the engine's init only when that failed (so the app does not get it twice).
    const terminate = async () => {
      if (!service.command.shell || !(await terminateAll(engine, name))) await signal('TERM');
    };
    const stop = (timeoutMs: number): Promise<void> => {
      stopping ??= (async () => {
        if (!exitKnown) {
          await terminate();
          const ended = await Promise.race([exited.then(() => true), sleep(timeoutMs).then(() => false)]);
          if (!ended) await signal('KILL');
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
        // No --env: an exec'd command gets the environment the container was created with (the same
        // `env`), and a value on this command line could be read by any user of the machine.
        ['exec', name, ...argvOf(command)],
        {
          timeoutMs: options.timeoutMs,
          keepChars: EXEC_KEEP_CHARS,
          ...(options.signal ? { signal: options.signal } : {}),
        },
      );
      return execResult(engine.name, result, options.signal?.aborted === true);
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
        void signal('KILL');
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
    this.#closed = true;
    // An image build under way ends (MSUP_STOPPED), and has removed what it made before msup goes on.
    this.#stopping.abort();
    await Promise.allSettled(this.#images.values());
    // A safety net: every container still here goes (each normally left with its instance).
    await Promise.all([...this.#live.values()].map((c) => c.stop()));
    await Promise.all([...this.#services.values()].map((s) => s.close()));
  }
}

/** Removes containers of this project a crashed run left: those it remembered, and any with its label. */
async function reapContainers(all: readonly Remembered[], host: RuntimeHost): Promise<Reaped[]> {
  for (const left of removeScratchLeftovers())
    host.log('warn', 'removed the temporary folder of an image build a crashed run left', { path: left });
  // podman's API services first (their folders too), then the containers.
  const reaped: Reaped[] = await reapServices(all);
  const entries = all.filter((e) => e.service !== SERVICE_ENTRY.service);
  const engines = new Set<EngineName | null>(entries.map((e) => (e.data.engine as EngineName) ?? null));
  if (engines.size === 0) engines.add(null);
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
      const found = ownContainer(host.project, line);
      if (found && !names.has(found.name)) names.set(found.name, found);
    }
    const present = new Set(listed.stdout.split('\n').map((l) => l.split(' ')[0]));
    const gone = [...names].filter(([name]) => present.has(name));
    if (gone.length === 0) continue;
    await engineCommand(
      engine,
      removeArgs(
        engine,
        gone.map(([name]) => name),
      ),
      {
        timeoutMs: 60_000,
      },
    );
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
