// The function runtime: each instance of a function service is a gateway (gateway.ts) that starts
// execution environments on demand, so the supervisor sees ONE instance per service (`adjust`). The
// environments are process groups like the process runtime's: remembered, guarded, reaped after a crash.
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import { type Clock, realClock } from '../../clock.js';
import type { RunningInstance, Runtime, RuntimeHost, RuntimePlugin, Usage } from '../../contract.js';
import { functionScript } from '../../handler-command.js';
import { MAX_DURATION_MS } from '../../limits.js';
import type { ResolvedService } from '../../types.js';
import { groupUsage } from '../proc.js';
import { reapGroups } from '../process.js';
import { runGuarded } from '../run-command.js';
import { Gateway, waitTimeoutMs } from './gateway.js';
import { functionFamilies } from './metrics.js';

/**
 * A function service is one gateway instance, whatever `instances` says (the gateway scales its
 * environments itself). The gateway is ready once it listens: the service's readiness probe is what an
 * environment must pass at init (`function.readiness`), and probing the gateway would keep one warm.
 */
export function adjustFunction(service: ResolvedService): ResolvedService {
  const { balancing } = service;
  const longest = Math.min(MAX_DURATION_MS, waitTimeoutMs(service) + service.function.timeoutMs);
  return {
    ...service,
    instances: 1,
    health: service.health && { ...service.health, probe: { kind: 'tcp' } },
    liveness: null,
    balancing: {
      ...balancing,
      weights: [],
      // The gateway answers 504 itself at the function's timeout; the front must not cut it first.
      responseTimeoutMs:
        balancing.responseTimeoutMs === 0 ? 0 : Math.max(balancing.responseTimeoutMs, longest),
    },
  };
}

function onPath(file: string, env: Readonly<Record<string, string>>, cwd: string): boolean {
  const executable = (candidate: string) => {
    try {
      accessSync(candidate, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (file.includes('/')) return executable(path.resolve(cwd, file));
  return (env.PATH ?? '').split(':').some((dir) => dir !== '' && executable(path.join(dir, file)));
}

/**
 * What a deploy would refuse, checked before the gateway opens (nothing runs until a request comes, so
 * a typo would otherwise show only then): the handler's file, the command's program, msup's bootstrap.
 */
export function deployProblem(
  service: ResolvedService,
  env: Readonly<Record<string, string>>,
): string | null {
  if (service.handler) {
    const spec = service.handler;
    const dot = spec.indexOf('.', spec.lastIndexOf('/') + 1);
    const base = path.resolve(service.cwd, spec.slice(0, dot));
    if (!['.js', '.mjs', '.cjs'].some((ext) => existsSync(base + ext)))
      return `handler "${spec}": no ${spec.slice(0, dot)}.js, .mjs or .cjs in ${service.cwd}`;
    if (!existsSync(functionScript('bootstrap')))
      return `msup's function bootstrap is missing (${functionScript('bootstrap')}): build msup (npm run build)`;
    return null;
  }
  const program = service.command.argv[0];
  if (!service.command.shell && program !== undefined && !onPath(program, env, service.cwd))
    return `command not found: ${program}`;
  return null;
}

class FunctionRuntime implements Runtime {
  readonly name = 'function';
  readonly #host: RuntimeHost;
  readonly #clock: Clock;
  readonly #gateways = new Map<string, Gateway>();
  #started = 0;

  constructor(host: RuntimeHost, clock: Clock) {
    this.#host = host;
    this.#clock = clock;
  }

  async start(spec: Parameters<Runtime['start']>[0], onOutput: Parameters<Runtime['start']>[1]) {
    const { service, index } = spec;
    const problem = deployProblem(service, spec.env);
    if (problem) throw new Error(problem);
    const gateway = await Gateway.open({ host: this.#host, spec, clock: this.#clock, onOutput });
    const id = `fn-${service.name}-${index}-${++this.#started}`;
    this.#gateways.set(id, gateway);
    void gateway.exited.then(() => this.#gateways.delete(id));
    const host = this.#host;
    const env = { ...spec.env, PORT: String(gateway.endpoint.port) };
    const instance: RunningInstance = {
      id,
      pid: null,
      endpoint: gateway.endpoint,
      startedAt: gateway.startedAt,
      exited: gateway.exited,
      stop: (timeoutMs) => gateway.stop(timeoutMs),
      kill: () => gateway.kill(),
      exec: (command, options) => runGuarded(host, command, { cwd: service.cwd, env, ...options }),
      details: () => gateway.details(),
      metrics: () => functionFamilies(gateway.pool.counters, gateway.pool.snapshot()),
    };
    return instance;
  }

  /** An instance's CPU and memory: everything its environments run. */
  async usage(instances: readonly RunningInstance[]): Promise<Map<string, Usage>> {
    const byInstance = new Map<string, number[]>();
    for (const instance of instances) {
      const gateway = this.#gateways.get(instance.id);
      if (!gateway) continue;
      byInstance.set(
        instance.id,
        gateway.pool.environments().flatMap((e) => (e.pid === null ? [] : [e.pid])),
      );
    }
    const groups = await groupUsage([...byInstance.values()].flat());
    const usage = new Map<string, Usage>();
    for (const [id, pids] of byInstance) {
      const total = { cpuMs: 0, rssBytes: 0 };
      for (const pid of pids) {
        const u = groups.get(pid);
        total.cpuMs += u?.cpuMs ?? 0;
        total.rssBytes += u?.rssBytes ?? 0;
      }
      usage.set(id, total);
    }
    return usage;
  }

  async close(): Promise<void> {}
}

/** The function runtime with its own clock (tests pass a manual one). */
export function createFunctionRuntime(options: { clock?: Clock } = {}): RuntimePlugin {
  const clock = options.clock ?? realClock;
  return {
    name: 'function',
    adjust: adjustFunction,
    // `memory` is an environment's memory size; nothing limits an environment's CPU (Lambda scales it with memory).
    unused: (service) => (service.cpus === null ? [] : ['cpus']),
    open: async (host) => new FunctionRuntime(host, clock),
    reap: (entries) => reapGroups(entries),
  };
}

export const functionRuntime: RuntimePlugin = createFunctionRuntime();
