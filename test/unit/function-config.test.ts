// Functions in the config: `handler` or `command`, the `function` settings and their defaults per profile,
// what applies where, `--runtime function` over a whole config, and the runtime's adjust.
import { describe, expect, it } from 'vitest';
import { prepareConfig } from '../../src/config/load.js';
import { validateConfig } from '../../src/config/validate.js';
import { functionScript } from '../../src/handler-command.js';
import { adjustFunction } from '../../src/runtime/function/runtime.js';
import type { MsupConfig } from '../../src/types.js';

const messages = (input: unknown) => {
  const result = validateConfig(input);
  return result.ok ? [] : result.issues.map((i) => `${i.path}: ${i.message}`);
};
const resolve = (config: MsupConfig, runtime?: 'process' | 'function') =>
  prepareConfig(config, '/project', null, { runtime });

describe('functions in the config', () => {
  it("keeps a function's memory in Lambda's range, 128 to 10240 MB", () => {
    expect(
      messages({
        services: {
          small: { handler: 'a.handler', port: 0, runtime: 'function', memory: 32 },
          large: { command: 'x', port: 0, function: { timeout: '1s' }, memory: '20g' },
          edges: { handler: 'a.handler', port: 0, runtime: 'function', memory: '128m' },
          top: { handler: 'a.handler', port: 0, runtime: 'function', memory: 10_240 },
          // A container (or a process) may be smaller: only a function has Lambda's range.
          container: { command: 'x', port: 0, runtime: 'container', memory: 32 },
        },
      }),
    ).toEqual([
      "services.small.memory: a function's memory is 128 to 10240 MB (Lambda's range), got 32 MB",
      "services.large.memory: a function's memory is 128 to 10240 MB (Lambda's range), got 20480 MB",
    ]);
    // A function too where the config's runtime or `--runtime function` makes it one (it was not checked):
    // an HTTP service only, and not one with a runtime of its own under the config's runtime.
    const services = {
      web: { command: 'x', port: 0, memory: 32 },
      worker: { command: 'x', memory: 32 },
      own: { command: 'x', port: 0, runtime: 'container', memory: 32 },
    };
    const problem = "services.web.memory: a function's memory is 128 to 10240 MB (Lambda's range), got 32 MB";
    expect(messages({ runtime: 'function', services })).toEqual([problem]);
    expect(() => resolve({ services } as MsupConfig, 'function')).toThrow(problem);
    expect(resolve({ services } as MsupConfig, 'process').services).toHaveLength(3);
  });

  it('says which keys apply where', () => {
    expect(
      messages({
        services: {
          both: { command: 'x', handler: 'a.handler', port: 0 },
          neither: { port: 0 },
          bad: { handler: 'no-dot', port: 0 },
          up: { handler: '../up.handler', port: 0 },
          unreachable: { handler: 'a.handler' },
          worker: { command: 'x', runtime: 'function' },
          tcp: { command: 'x', port: 0, mode: 'tcp', runtime: { function: { timeout: '1s' } } },
          twice: { command: 'x', port: 0, runtime: { function: {} }, function: {} },
          scale: {
            command: 'x',
            port: 0,
            function: { minInstances: 3, maxInstances: 2, profile: 'lambada' },
          },
        },
      }),
    ).toEqual([
      'services.bad.handler: expected a handler such as \'fns/hello.handler\' (the export handler of fns/hello.js), got "no-dot"',
      'services.up.handler: expected a handler such as \'fns/hello.handler\' (the export handler of fns/hello.js), got "../up.handler"',
      'services.scale.function.profile: expected "lambda" or "knative", got "lambada"',
      'services.both.handler: a service runs a "command" or a "handler", not both',
      "services.neither.command: expected a command to run, or a handler such as 'fns/hello.handler'",
      'services.unreachable.port: a handler is invoked over HTTP: give the service a "port" or a route in proxy.routes',
      'services.worker.port: a function is invoked over HTTP: give the service a "port" or a route in proxy.routes',
      'services.tcp.mode: a function answers HTTP requests: mode "tcp" does not apply',
      'services.twice.function: function settings are given twice: in "runtime: { function }" and in "function"; keep one',
      'services.scale.function.minInstances: 3 environments kept warm, but maxInstances is 2',
    ]);
    expect(
      messages({
        proxy: { port: 0, routes: [{ path: '/hello', service: 'hello' }] },
        services: { hello: { handler: 'fns/hello.handler', runtime: 'function' } },
      }),
    ).toEqual([]);
  });

  it("fills in Lambda's defaults, or Knative's with profile: 'knative'", () => {
    const config = resolve({
      services: {
        lambda: { handler: 'fns/hello.handler', port: 0, runtime: 'function' },
        knative: {
          command: 'node s.js',
          port: 0,
          health: { http: '/ready' },
          function: { profile: 'knative' },
        },
        capped: {
          command: 'node s.js',
          port: 0,
          memory: '256m',
          function: { profile: 'knative', concurrency: 8 },
        },
      },
    });
    const [lambda, knative, capped] = config.services;
    expect(lambda?.function).toEqual({
      profile: 'lambda',
      concurrency: 1,
      target: 1,
      minInstances: 0,
      maxInstances: 10,
      idleTimeoutMs: 60_000,
      scaleToZeroGraceMs: 0,
      timeoutMs: 3000,
      initTimeoutMs: 10_000,
      memoryMb: 128,
      overflow: 'throttle',
      readiness: { kind: 'tcp' },
      bootstrap: null,
    });
    expect(knative?.function).toMatchObject({
      profile: 'knative',
      concurrency: 0,
      target: 100,
      idleTimeoutMs: 60_000,
      scaleToZeroGraceMs: 30_000,
      timeoutMs: 300_000,
      overflow: 'queue',
      readiness: { kind: 'http', path: '/ready' },
    });
    expect(knative?.runtime).toBe('process'); // settings alone do not choose the runtime
    expect(capped?.function).toMatchObject({ concurrency: 8, target: 8, memoryMb: 256 });
  });

  it('never aims an environment past its concurrency: a target given above it is capped', () => {
    const fn = (f: Record<string, unknown>) =>
      resolve({ services: { s: { command: 'node s.js', port: 0, function: f } } }).services[0]?.function;
    expect(fn({ target: 4 })).toMatchObject({ concurrency: 1, target: 1 }); // Lambda's concurrency 1
    expect(fn({ concurrency: 10, target: 4 })).toMatchObject({ concurrency: 10, target: 4 });
    expect(fn({ profile: 'knative', target: 7 })).toMatchObject({ concurrency: 0, target: 7 }); // no limit
  });

  it("runs a handler under the other runtimes through msup's own HTTP server", () => {
    const [hello] = resolve({ services: { hello: { handler: 'fns/hello.handler', port: 0 } } }).services;
    expect(hello?.runtime).toBe('process');
    expect(hello?.handler).toBe('fns/hello.handler');
    expect(hello?.command).toEqual({
      shell: false,
      argv: [process.execPath, functionScript('serve'), 'fns/hello.handler'],
    });
  });

  it('--runtime function re-targets every HTTP service; a worker stays what it was', () => {
    const config: MsupConfig = {
      proxy: { port: 0, routes: [{ path: '/api', service: 'api' }] },
      services: {
        web: { command: 'node web.js', port: 0, instances: 3 },
        api: { command: 'node api.js' },
        worker: { command: 'node worker.js' },
        own: { command: 'node own.js', runtime: 'container' },
      },
    };
    expect(resolve(config, 'function').services.map((s) => [s.name, s.runtime])).toEqual([
      ['web', 'function'],
      ['api', 'function'],
      ['worker', 'process'],
      ['own', 'container'],
    ]);
    const top = resolve({ ...config, runtime: 'function' }).services.map((s) => s.runtime);
    expect(top).toEqual(['function', 'function', 'process', 'container']);
  });

  it('a function is one gateway instance to the supervisor, ready once it listens', () => {
    const [web] = resolve({
      services: {
        web: {
          command: 'node web.js',
          port: 0,
          instances: 3,
          weights: [2, 1],
          health: { http: '/health', interval: '2s' },
          runtime: { function: { timeout: '90s' } },
        },
      },
    }).services;
    const adjusted = adjustFunction(web!);
    expect(adjusted.instances).toBe(1);
    expect(adjusted.health).toMatchObject({ probe: { kind: 'tcp' }, intervalMs: 2000 });
    expect(adjusted.liveness).toBeNull();
    expect(adjusted.function.readiness).toEqual({ kind: 'http', path: '/health' });
    expect(adjusted.balancing.weights).toEqual([]);
    // The front waits longer than the function may: the gateway answers 504 itself.
    expect(adjusted.balancing.responseTimeoutMs).toBe(2 * 10_000 + 90_000 + 90_000);
  });
});
