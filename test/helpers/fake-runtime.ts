// A runtime that runs nothing: instances live in memory, follow the conformance fixture's BEHAVE
// settings (fixtures/behave.js), and can be driven from a test (print, exit, hang at launch). It lets the
// supervisor's logic (restart policy, rolling restart, readiness) be tested exactly, without processes.
// An instance that serves answers HTTP on a real loopback port, in this process.
import http from 'node:http';
import type {
  InstanceSpec,
  Reaped,
  Remembered,
  RunningInstance,
  Runtime,
  RuntimeHost,
  RuntimePlugin,
  Usage,
} from '../../src/contract.js';
import { runGuarded } from '../../src/runtime/run-command.js';
import type { ExitInfo, OutputLine, RuntimeName } from '../../src/types.js';

export interface FakeInstance extends RunningInstance {
  readonly spec: InstanceSpec;
  /** The instance writes a line. */
  print(stream: 'stdout' | 'stderr', line: string): void;
  /** The instance ends by itself (a crash, or a clean exit). */
  exit(code: number | null, signal?: string | null): void;
  readonly alive: boolean;
  /** How it was asked to stop: 'stop', 'kill', 'reap', or null. */
  readonly endedBy: string | null;
}

export interface FakeRuntime extends RuntimePlugin {
  /** Every instance started, in order. */
  readonly started: FakeInstance[];
  /** Instances alive now. */
  alive(): FakeInstance[];
  /** The next launches wait for this before they answer (a slow runtime, an image being built). */
  hold(): () => void;
  /** Launches waiting now for a hold to be released. */
  held(): number;
  /** The next launch throws this. */
  failNext(error: Error): void;
  /** While set, every instance's exec() rejects with this (the contract allows it); null ends it. */
  failExec(error: Error | null): void;
  /** How many times prepare() ran, by service. */
  readonly prepared: Map<string, number>;
}

const FAILING_COMMAND = '/does/not/exist';

export function createFakeRuntime(name: RuntimeName = 'process'): FakeRuntime {
  const started: FakeInstance[] = [];
  const byId = new Map<string, FakeInstance & { end(exit: Partial<ExitInfo>, by: string): void }>();
  const prepared = new Map<string, number>();
  let gate: Promise<void> | undefined;
  let atGate = 0;
  let nextFailure: Error | undefined;
  let execFailure: Error | null = null;
  let counter = 0;

  const launch = async (
    host: RuntimeHost,
    spec: InstanceSpec,
    onOutput: (line: OutputLine) => void,
  ): Promise<RunningInstance> => {
    if (gate) {
      atGate++;
      await gate;
      atGate--;
    }
    if (nextFailure) {
      const error = nextFailure;
      nextFailure = undefined;
      throw error;
    }
    const { service, index } = spec;
    if (service.command.argv[0] === FAILING_COMMAND) throw new Error(`spawn ${FAILING_COMMAND} ENOENT`);
    const behave = spec.env.BEHAVE ?? 'serve';
    const port = await host.ports.allocate();
    const id = `fake${++counter}`;
    const startedAt = Date.now();
    let alive = true;
    let endedBy: string | null = null;
    let resolveExit: (exit: ExitInfo) => void = () => {};
    const exited = new Promise<ExitInfo>((resolve) => {
      resolveExit = resolve;
    });
    let server: http.Server | undefined;
    const forget = host.remember({ runtime: name, service: service.name, index, data: { id } });
    const print = (stream: 'stdout' | 'stderr', line: string) =>
      onOutput({ service: service.name, index, stream, line });
    const end = (exit: Partial<ExitInfo>, by: string) => {
      if (!alive) return;
      alive = false;
      endedBy ??= by;
      server?.close();
      server?.closeAllConnections();
      forget();
      host.ports.release(port);
      resolveExit({ code: null, signal: null, at: Date.now(), uptimeMs: Date.now() - startedAt, ...exit });
    };
    const instance = {
      id,
      pid: null,
      endpoint: { host: '127.0.0.1', port },
      startedAt,
      exited,
      spec,
      get alive() {
        return alive;
      },
      get endedBy() {
        return endedBy;
      },
      print,
      exit: (code: number | null, signal: string | null = null) => end({ code, signal }, 'exit'),
      end,
      async stop(timeoutMs: number) {
        if (alive && behave === 'ignore-term') {
          endedBy = 'stop';
          // SIGKILL after the grace period, unless it ends meanwhile (as a process does).
          let grace: NodeJS.Timeout | undefined;
          const graceOver = new Promise((r) => {
            grace = setTimeout(r, timeoutMs);
          });
          await Promise.race([exited, graceOver]);
          clearTimeout(grace);
          end({ signal: 'SIGKILL' }, 'stop');
        }
        end({ signal: 'SIGTERM' }, 'stop');
        await exited;
      },
      kill: () => end({ signal: 'SIGKILL' }, 'kill'),
      exec: (
        command: Parameters<RunningInstance['exec']>[0],
        options: { timeoutMs: number; signal?: AbortSignal },
      ) =>
        execFailure
          ? Promise.reject(execFailure)
          : runGuarded(host, command, {
              cwd: service.cwd,
              env: { ...spec.env, PORT: String(port) },
              ...options,
            }),
    };
    byId.set(id, instance);
    started.push(instance);
    setImmediate(() => {
      print('stdout', `hello from ${service.name}#${index}`);
      print('stderr', `a line on stderr from ${service.name}#${index}`);
      if (behave.startsWith('exit:')) instance.exit(Number(behave.slice(5)));
      else if (behave.startsWith('signal:')) instance.exit(null, behave.slice(7));
    });
    if (behave === 'serve' || behave === 'ignore-term' || behave === 'spawn-child') {
      server = http.createServer((_req, res) => {
        res.writeHead(200, { connection: 'close' });
        res.end(`ok ${service.name}#${index}\n`);
      });
      await new Promise<void>((resolve, reject) => {
        server?.once('error', reject);
        server?.listen(port, '127.0.0.1', () => resolve());
      });
    }
    return instance;
  };

  const plugin: FakeRuntime = {
    name,
    started,
    prepared,
    alive: () => started.filter((i) => i.alive),
    held: () => atGate,
    hold() {
      let release: () => void = () => {};
      gate = new Promise<void>((resolve) => {
        release = () => {
          gate = undefined;
          resolve();
        };
      });
      return release;
    },
    failNext(error) {
      nextFailure = error;
    },
    failExec(error) {
      execFailure = error;
    },
    async open(host: RuntimeHost): Promise<Runtime> {
      return {
        name,
        async prepare(service) {
          prepared.set(service.name, (prepared.get(service.name) ?? 0) + 1);
        },
        start: (spec, onOutput) => launch(host, spec, onOutput),
        async usage() {
          return new Map<string, Usage>();
        },
        async close() {},
      };
    },
    async reap(entries: readonly Remembered[]): Promise<Reaped[]> {
      const reaped: Reaped[] = [];
      for (const entry of entries) {
        const instance = byId.get(String(entry.data.id));
        if (!instance?.alive) continue;
        instance.end({ signal: 'SIGKILL' }, 'reap');
        reaped.push({ service: entry.service, index: entry.index, what: `fake instance ${instance.id}` });
      }
      return reaped;
    },
  };
  return plugin;
}
