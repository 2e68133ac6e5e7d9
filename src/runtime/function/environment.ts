// One execution environment of a function: a process group launched with `launchGroup` (remembered in the
// state file, guarded by the watchdog, reaped after a crash) that runs the service's command on its own
// port (an HTTP service) or msup's bootstrap against its own Runtime API server (a handler). It knows when
// its init is done, runs invocations, and reports its memory.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { RuntimeHost } from '../../contract.js';
import { functionScript } from '../../handler-command.js';
import { UPSTREAM_IDLE_MS } from '../../proxy/upstream-pool.js';
import type { ExitInfo, ResolvedService } from '../../types.js';
import type { GroupUsage } from '../proc.js';
import { type LaunchedGroup, launchGroup } from '../process.js';
import { regionVariables } from './handler-load.js';
import { checkReady, forward, READY_POLL_MS } from './http-env.js';
import { type ProcessMemory, processMemory } from './memory.js';
import { type ApiOutcome, InitError, type Invocation, RuntimeApi } from './runtime-api.js';
import { TOKEN_VARIABLE } from './runtime-token.js';

export interface EnvironmentOptions {
  host: RuntimeHost;
  service: ResolvedService;
  /** The gateway's instance index (the state file's entries, the output's `name#i`). */
  index: number;
  /** This environment's number within its gateway (1, 2, ...). */
  sequence: number;
  /** The instance's environment variables (without PORT). */
  env: Readonly<Record<string, string>>;
  /** Started to keep `minInstances` warm, not for a request. */
  provisioned: boolean;
  onOutput(stream: 'stdout' | 'stderr', line: string): void;
}

export type InvokeOutcome =
  | ApiOutcome
  | { kind: 'forwarded'; statusCode: number }
  /** An HTTP service's client left before its answer was written; the environment is not to blame. */
  | { kind: 'client-gone' }
  | ExitedOutcome;

/**
 * The environment ended, or failed the request. `undelivered`: before its runtime was handed the
 * invocation, or before a byte of an HTTP service's request was written to it (it never ran). `resend`: an
 * HTTP service's request that may have reached it, but may go to another environment all the same (an
 * idempotent method, its body and answer not spent: the front proxy's rules).
 */
export type ExitedOutcome = {
  kind: 'exited';
  errorType: string;
  message: string;
  undelivered?: true;
  resend?: true;
};

/** The variables Lambda gives every environment (the Node.js runtime reads them for `context`). */
function lambdaVariables(o: EnvironmentOptions): Record<string, string> {
  const fn = o.service.function;
  const day = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
  return {
    ...regionVariables(o.env),
    AWS_LAMBDA_FUNCTION_NAME: o.service.name,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${o.service.name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `${day}/[$LATEST]${o.index}-${o.sequence}`,
    AWS_LAMBDA_INITIALIZATION_TYPE: o.provisioned ? 'provisioned-concurrency' : 'on-demand',
    MSUP_ENVIRONMENT: String(o.sequence),
  };
}

/**
 * V8's heap as Lambda's Node.js runtime sizes it from the memory size: a tenth for the young generation
 * (two semi-spaces of a twentieth each), the rest for the old one. Without the semi-space bound, Node 24's
 * larger young generation let an environment's memory grow past a 128 MB memory size under steady load
 * (measured: 122 MB resident after 15,000 warm invocations, against 81 MB with it).
 */
export function heapFlags(memoryMb: number): string[] {
  const young = Math.floor(memoryMb / 10);
  return [
    `--max-semi-space-size=${Math.max(1, Math.floor(young / 2))}`,
    `--max-old-space-size=${Math.max(16, memoryMb - young)}`,
  ];
}

/** NODE_OPTIONS with the heap flags added: for commands msup does not launch itself. */
function withHeapFlags(nodeOptions: string | undefined, memoryMb: number): string {
  const heap = heapFlags(memoryMb).join(' ');
  return nodeOptions ? `${nodeOptions} ${heap}` : heap;
}

export class Environment {
  readonly id: string;
  readonly kind: 'handler' | 'http';
  readonly provisioned: boolean;
  readonly pid: number | null;
  /** Settles once the environment is initialised; rejects when its init failed or it ended first. */
  readonly ready: Promise<void>;
  readonly exited: Promise<ExitInfo>;
  /** Ended for going over its memory size. */
  oom = false;
  readonly #group: LaunchedGroup;
  readonly #api: RuntimeApi | null;
  readonly #port: number;
  readonly #host: RuntimeHost;
  readonly #agent: http.Agent | null;
  readonly #stderr: string[] = [];
  #peakBytes = 0;
  #stopped = false;
  #released = false;
  /** Invocations under way, settled with the exit outcome if the environment ends first. */
  readonly #waiting = new Set<(outcome: InvokeOutcome) => void>();
  #ended: ExitedOutcome | null = null;

  private constructor(
    o: EnvironmentOptions,
    port: number,
    api: RuntimeApi | null,
    group: LaunchedGroup,
    stderr: string[],
  ) {
    this.id = `e${o.index}.${o.sequence}`;
    this.kind = api ? 'handler' : 'http';
    this.provisioned = o.provisioned;
    this.pid = group.pid;
    this.#group = group;
    this.#api = api;
    this.#port = port;
    this.#host = o.host;
    this.#stderr = stderr;
    // Idle connections are closed before the app's own keep-alive timeout can close one as a request goes
    // out on it (a reset then read as the environment's failure: a 502, and a cold start after). Node's
    // agent heeds the app's `Keep-Alive: timeout=` hint only below a timeout of its own.
    this.#agent = api ? null : new http.Agent({ keepAlive: true, timeout: UPSTREAM_IDLE_MS });
    this.exited = group.exited;
    void group.exited.then((exit) => {
      this.#ended = this.#exitOutcome(exit);
      for (const settle of [...this.#waiting]) settle(this.#ended);
    });
    const ended = group.exited.then((exit) => {
      throw new InitError(
        'Runtime.ExitError',
        exit.error ?? `the environment exited before its init was done (${describe(exit)})`,
      );
    });
    ended.catch(() => {});
    const initialised = api ? api.init : this.#pollReady(o.service.function.readiness);
    this.ready = Promise.race([initialised, ended]);
    this.ready.catch(() => {});
  }

  static async start(o: EnvironmentOptions): Promise<Environment> {
    // A handler's Runtime API is msup's own listener: port 0 lets the kernel pick a free port in the same
    // bind (no separate check, no race). An HTTP service binds its PORT itself, so that one is allocated.
    // msup's own bootstrap proves itself with a token (its first poll then does not wait for the check of
    // its socket's owner); a runtime of the user's own is checked as it connects.
    const token =
      o.service.handler && !o.service.function.bootstrap ? randomBytes(18).toString('base64url') : null;
    const api = o.service.handler ? await RuntimeApi.listen(0, token ? { token } : {}) : null;
    const port = api ? api.port : await o.host.ports.allocate();
    const stderr: string[] = [];
    const onOutput = (stream: 'stdout' | 'stderr', line: string) => {
      if (stream === 'stderr') {
        stderr.push(line);
        if (stderr.length > 20) stderr.shift();
      }
      o.onOutput(stream, line);
    };
    const fn = o.service.function;
    try {
      const env: Record<string, string> = { ...o.env, ...lambdaVariables(o) };
      let command = o.service.command;
      if (o.service.handler) {
        Object.assign(env, {
          AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${port}`,
          _HANDLER: o.service.handler,
          LAMBDA_TASK_ROOT: o.service.cwd,
          MSUP_FUNCTION_CONCURRENCY: String(fn.concurrency),
        });
        if (fn.bootstrap) {
          command = fn.bootstrap;
          env.NODE_OPTIONS = withHeapFlags(env.NODE_OPTIONS, fn.memoryMb);
        } else {
          command = {
            shell: false,
            argv: [process.execPath, ...heapFlags(fn.memoryMb), functionScript('bootstrap')],
          };
          if (token) env[TOKEN_VARIABLE] = token;
        }
      } else {
        env.PORT = String(port);
        env.NODE_OPTIONS = withHeapFlags(env.NODE_OPTIONS, fn.memoryMb);
      }
      const group = launchGroup(
        o.host,
        { runtime: 'function', service: o.service.name, index: o.index },
        command,
        { cwd: o.service.cwd, env },
        onOutput,
      );
      return new Environment(o, port, api, group, stderr);
    } catch (error) {
      if (api) await api.close();
      else o.host.ports.release(port);
      throw error;
    }
  }

  /** Runs one invocation of a handler; settles with what the runtime posted, or how the environment ended. */
  invoke(invocation: Invocation): Promise<InvokeOutcome> {
    const api = this.#api as RuntimeApi;
    return this.#unlessEnded(api.invoke(invocation), () => !api.delivered(invocation.id));
  }

  /**
   * Passes one request to an HTTP service's environment and streams its answer back. Should the
   * environment end first, the request to it is cut; whether it was delivered is known either way.
   */
  forward(req: http.IncomingMessage, res: http.ServerResponse): Promise<InvokeOutcome> {
    if (this.#ended) return Promise.resolve({ ...this.#ended, undelivered: true });
    const ended = new AbortController();
    const onExit = () => ended.abort();
    this.#waiting.add(onExit);
    return forward(this.#agent as http.Agent, this.#port, req, res, ended.signal).then((r): InvokeOutcome => {
      this.#waiting.delete(onExit);
      if ('statusCode' in r) return { kind: 'forwarded', statusCode: r.statusCode };
      if ('gone' in r) return { kind: 'client-gone' };
      const { error, kind, retry } = r.failure;
      return {
        kind: 'exited',
        errorType: this.#ended?.errorType ?? (this.oom ? 'Runtime.OutOfMemory' : 'Runtime.ExitError'),
        message: this.#ended?.message ?? `the environment failed to answer: ${error.message}`,
        // Not sent again when it ran the environment out of memory: as on Lambda, that is its error.
        ...(retry
          ? kind === 'connect'
            ? { undelivered: true }
            : this.oom || this.#ended?.errorType === 'Runtime.OutOfMemory'
              ? {}
              : { resend: true }
          : {}),
      };
    });
  }

  /**
   * The invocation's outcome, or how the environment ended if it ends first. (Not a Promise.race with
   * `exited`: each race would leave a reaction on that promise for as long as the environment lives.)
   */
  #unlessEnded(running: Promise<InvokeOutcome>, undelivered = () => false): Promise<InvokeOutcome> {
    const ended = (outcome: InvokeOutcome): InvokeOutcome =>
      outcome.kind === 'exited' && undelivered() ? { ...outcome, undelivered: true } : outcome;
    if (this.#ended) return Promise.resolve(ended(this.#ended));
    return new Promise((resolve) => {
      const settle = (outcome: InvokeOutcome) => {
        this.#waiting.delete(onExit);
        resolve(outcome);
      };
      const onExit = (outcome: InvokeOutcome) => settle(ended(outcome));
      this.#waiting.add(onExit);
      void running.then(settle);
    });
  }

  /** An invocation given up on (timeout): a late answer is refused. */
  forget(id: string): void {
    this.#api?.forget(id);
  }

  /** Why an invocation under way ended with the environment. */
  #exitOutcome(exit: ExitInfo): ExitedOutcome {
    const oom = this.oom || this.#stderr.some((l) => l.includes('heap out of memory'));
    return {
      kind: 'exited',
      errorType: oom ? 'Runtime.OutOfMemory' : 'Runtime.ExitError',
      message: oom ? 'the environment ran out of memory' : `the environment exited (${describe(exit)})`,
    };
  }

  /**
   * Memory of the environment now; its peak so far is kept from every reading. A handler's is its
   * process's. An HTTP service's is its process group's, from `groups` (the caller reads every group at
   * once: one scan of /proc for all the environments, see the gateway's memory watch); without them, its
   * main process's alone (one file).
   */
  memory(groups?: ReadonlyMap<number, GroupUsage>): ProcessMemory | null {
    if (this.pid === null) return null;
    let now: ProcessMemory | null;
    if (this.kind === 'handler' || groups === undefined) {
      now = processMemory(this.pid);
    } else {
      const usage = groups.get(this.pid);
      now = usage ? { rssBytes: usage.rssBytes, peakBytes: usage.rssBytes } : null;
    }
    if (now) this.#peakBytes = Math.max(this.#peakBytes, now.peakBytes, now.rssBytes);
    return now;
  }

  /**
   * The peak resident memory seen so far, in MB (kept up to date by the memory watch; read once if not yet:
   * an environment that answered before the watch first read it, its main process's peak).
   */
  peakMb(): number | null {
    if (this.#peakBytes === 0 && this.pid !== null) {
      this.#peakBytes = processMemory(this.pid)?.peakBytes ?? 0;
    }
    return this.#peakBytes === 0 ? null : Math.ceil(this.#peakBytes / (1024 * 1024));
  }

  async #pollReady(readiness: EnvironmentOptions['service']['function']['readiness']): Promise<void> {
    for (;;) {
      if (this.#stopped)
        throw new InitError('Runtime.ExitError', 'the environment was stopped during its init');
      if (await checkReady(readiness, this.#port)) return;
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    }
  }

  /** Ends the environment: SIGTERM to its group, SIGKILL after `timeoutMs`; frees its port. */
  async stop(timeoutMs: number): Promise<void> {
    this.#stopped = true;
    await this.#group.stop(timeoutMs);
    if (this.#released) return;
    this.#released = true;
    this.#agent?.destroy();
    // A handler's port was the kernel's choice for its Runtime API, not one of the host's.
    if (this.#api) await this.#api.close();
    else this.#host.ports.release(this.#port);
  }

  kill(): void {
    this.#stopped = true;
    this.#group.kill();
  }
}

function describe(exit: ExitInfo): string {
  if (exit.error) return exit.error;
  return exit.signal ? `killed by ${exit.signal}` : `code ${exit.code}`;
}
