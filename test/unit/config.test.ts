import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/config/duration.js';
import { prepareConfig } from '../../src/config/load.js';
import { parseMemory } from '../../src/config/size.js';
import { validateConfig } from '../../src/config/validate.js';
import { isMsupError } from '../../src/errors.js';

const messages = (input: unknown) => {
  const result = validateConfig(input);
  return result.ok ? [] : result.issues.map((i) => `${i.path}: ${i.message}`);
};

describe('durations', () => {
  it('reads numbers as milliseconds and ms/s/m/h strings', () => {
    expect([500, '500ms', '5s', '1.5s', '2m', '1h'].map(parseDuration)).toEqual([
      500, 500, 5000, 1500, 120_000, 3_600_000,
    ]);
  });
  it('rejects anything else', () => {
    expect(['5', 'soon', '-1s', '', null, -5, Number.NaN].map(parseDuration)).toEqual(
      Array(7).fill(undefined),
    );
  });
});

describe('formatDuration', () => {
  it('rounds before it splits into units, up to hours and days', () => {
    const cases: [number, string][] = [
      [0, '0ms'],
      [850, '850ms'],
      [999.6, '1s'],
      [1500, '1.5s'],
      [2000, '2s'],
      [59_949, '59.9s'],
      [59_999, '1m0s'],
      [61_000, '1m1s'],
      [119_999, '2m0s'],
      [732_000, '12m12s'],
      [3_599_700, '1h0m'],
      [3_600_000 + 5 * 60_000, '1h5m'],
      [25 * 3_600_000 + 1000, '1d1h'],
      [23 * 3_600_000 + 59 * 60_000 + 40_000, '1d0h'],
      [3 * 86_400_000 + 4 * 3_600_000, '3d4h'],
    ];
    expect(cases.map(([ms]) => formatDuration(ms))).toEqual(cases.map(([, text]) => text));
  });
});

describe('config validation', () => {
  it('accepts the documented shape', () => {
    expect(
      messages({
        services: {
          web: {
            command: 'node server.js',
            instances: 3,
            port: 8080,
            env: { A: 'x', B: 1, C: true },
            cwd: 'web',
            health: {
              http: '/health',
              interval: '2s',
              timeout: 500,
              failureThreshold: 2,
              successThreshold: 1,
            },
            restart: { policy: 'on-failure', initialDelay: '50ms', maxDelay: '10s', multiplier: 1.5 },
            stopTimeout: '5s',
          },
          worker: { command: ['node', 'w.js'], restart: 'never', health: { exec: 'true' } },
          db: { command: 'x', port: 0, health: { tcp: true } },
        },
      }),
    ).toEqual([]);
  });

  it('lists every problem at once, each with its path', () => {
    expect(
      messages({
        services: {
          web: { command: ['node'], instances: 0, port: -1, env: { A: {} }, health: { http: 'health' } },
          'bad name!': { command: 'x' },
          api: { instances: 1.5, restart: { multiplier: 0.5, typo: 1 } },
        },
        extra: true,
      }),
    ).toEqual(
      expect.arrayContaining([
        '(root): unknown key "extra"',
        'services.web.instances: expected a positive integer, got 0',
        'services.web.port: expected a port number from 0 to 65535, got -1',
        'services.web.env.A: expected a string, number or boolean, got {}',
        'services.web.health.http: expected a path starting with "/", got "health"',
        'services.bad name!: a service name uses letters, digits, "-", "_" and "." and starts with a letter or digit',
        "services.api.command: expected a command to run, or a handler such as 'fns/hello.handler'",
        'services.api.instances: expected a positive integer, got 1.5',
        'services.api.restart.multiplier: expected a number of at least 1, got 0.5',
        'services.api.restart: unknown key "typo"',
      ]),
    );
  });

  it('needs at least one service, and one front port per service', () => {
    expect(messages({ services: {} })).toEqual(['services: expected at least one service']);
    expect(messages({})).toEqual(['services: expected an object of services, got nothing']);
    expect(messages({ services: { a: { command: 'x', port: 80 }, b: { command: 'y', port: 80 } } })).toEqual([
      'services.b.port: port 80 is already the front port of service "a"',
    ]);
  });

  it("keeps the admin listener's port off the fronts' ports", () => {
    expect(messages({ services: { a: { command: 'x', port: 27600 } }, admin: { port: 27600 } })).toEqual([
      'admin.port: port 27600 is already the front port of service "a"',
    ]);
    expect(
      messages({
        services: { a: { command: 'x', port: 8000 } },
        proxy: { port: 9000, routes: [{ path: '/', service: 'a' }] },
        admin: { port: 9000 },
      }),
    ).toEqual(["admin.port: port 9000 is already the shared front's port (proxy.port)"]);
    expect(messages({ services: { a: { command: 'x', port: 0 } }, admin: { port: 0 } })).toEqual([]);
    // On another address the port is free (the fronts listen on 127.0.0.1); on every address it is not.
    const beside = (host: string) =>
      messages({ services: { a: { command: 'x', port: 8080 } }, admin: { host, port: 8080 } });
    expect(beside('::1')).toEqual([]);
    expect(beside('192.168.1.5')).toEqual([]);
    for (const host of ['0.0.0.0', '::', 'localhost', '127.0.0.1']) {
      expect(beside(host)).toEqual(['admin.port: port 8080 is already the front port of service "a"']);
    }
  });

  it('refuses a readiness initialDelay that startTimeout would never wait for, naming its path', () => {
    const late = 'the first readiness probe would come after';
    const fix =
      'is stopped first (and restarted, as its restart policy says), so it would never be ready: make initialDelay shorter, or startTimeout longer';
    expect(
      messages({
        services: {
          a: { command: 'x', port: 0, health: { http: '/h', initialDelay: '60s' } },
          b: { command: 'x', port: 0, readiness: { tcp: true, initialDelay: '5s' }, startTimeout: '5s' },
          c: { command: 'x', port: 0, readiness: { tcp: true, initialDelay: '4s' }, startTimeout: '5s' },
          // A liveness probe starts once the instance was ready: startTimeout is over by then.
          d: { command: 'x', port: 0, liveness: { tcp: true, initialDelay: '2m' } },
          e: { command: 'x', port: 0, instances: 0, health: { tcp: true, initialDelay: '2m' } },
        },
      }),
    ).toEqual([
      'services.e.instances: expected a positive integer, got 0',
      `services.a.health.initialDelay: ${late} 1m0s, but an instance not ready within startTimeout (1m0s, the default) ${fix}`,
      `services.b.readiness.initialDelay: ${late} 5s, but an instance not ready within startTimeout (5s) ${fix}`,
      `services.e.health.initialDelay: ${late} 2m0s, but an instance not ready within startTimeout (1m0s, the default) ${fix}`,
    ]);
  });

  it('a health check names exactly one kind', () => {
    expect(messages({ services: { a: { command: 'x', health: { interval: '1s' } } } })).toEqual([
      'services.a.health: expected one of "http", "tcp" or "exec"',
    ]);
  });
});

describe('config resolution', () => {
  it('fills in defaults, converts durations and makes paths absolute, frozen', () => {
    const config = prepareConfig(
      {
        services: {
          web: { command: 'node s.js', port: 8080, cwd: 'app' },
          worker: { command: ['node', 'w.js'] },
        },
      },
      '/project',
      null,
    );
    const [web, worker] = config.services;
    expect(web).toMatchObject({
      name: 'web',
      command: { shell: false, argv: ['node', 's.js'] },
      instances: 1,
      port: 8080,
      cwd: path.resolve('/project/app'),
      stopTimeoutMs: 5000,
      health: {
        probe: { kind: 'tcp' },
        intervalMs: 5000,
        timeoutMs: 1000,
        failureThreshold: 3,
        successThreshold: 1,
      },
      restart: {
        policy: 'always',
        initialDelayMs: 100,
        maxDelayMs: 15_000,
        multiplier: 2,
        resetAfterMs: 30_000,
      },
    });
    expect(worker).toMatchObject({
      command: { shell: false, argv: ['node', 'w.js'] },
      port: null,
      health: null,
    });
    expect(Object.isFrozen(config) && Object.isFrozen(web) && Object.isFrozen(web?.restart)).toBe(true);
  });

  it('throws MSUP_CONFIG_INVALID with the issues and a readable message', () => {
    let error: unknown;
    try {
      prepareConfig({ services: { web: { command: 'x', instances: -1 } } }, '/p', '/p/supervisor.config.ts');
    } catch (e) {
      error = e;
    }
    expect(isMsupError(error, 'MSUP_CONFIG_INVALID')).toBe(true);
    expect((error as Error).message).toBe(
      '/p/supervisor.config.ts has 1 problem:\n  services.web.instances: expected a positive integer, got -1',
    );
  });
});

describe('runtimes in the config', () => {
  const resolve = (raw: unknown, runtime?: 'process' | 'container') =>
    prepareConfig(raw, '/p', null, runtime ? { runtime } : {}).services.map((s) => [s.name, s.runtime]);

  it('reads memory sizes in MB', () => {
    expect([256, '256m', '512MB', '1g', '1.5GB', '64Mi', '1Gi'].map(parseMemory)).toEqual([
      256, 256, 512, 1024, 1536, 64, 1024,
    ]);
    expect(['256', '1t', 'lots', -1, 2, Number.NaN, null].map(parseMemory)).toEqual(Array(7).fill(undefined));
  });

  it('picks --runtime first, then the service, then the top level, then process', () => {
    const raw = {
      runtime: 'container',
      services: {
        a: { command: 'x' },
        b: { command: 'x', runtime: 'process' },
        c: { command: 'x', runtime: { container: {} } },
      },
    };
    expect(resolve(raw)).toEqual([
      ['a', 'container'],
      ['b', 'process'],
      ['c', 'container'],
    ]);
    expect(resolve(raw, 'process')).toEqual([
      ['a', 'process'],
      ['b', 'process'],
      ['c', 'process'],
    ]);
    expect(resolve({ services: { a: { command: 'x' } } })).toEqual([['a', 'process']]);
  });

  it('resolves container settings, memory and cpus, from either place', () => {
    const config = prepareConfig(
      {
        services: {
          a: {
            command: 'x',
            runtime: { container: { image: 'localhost/a:1', mount: false } },
            memory: '1g',
            cpus: 0.5,
          },
          b: { command: 'x', container: { engine: 'docker' } },
        },
      },
      '/p',
      null,
    );
    const [a, b] = config.services;
    expect(a?.container).toEqual({ image: 'localhost/a:1', engine: null, mount: false });
    expect([a?.memoryMb, a?.cpus]).toEqual([1024, 0.5]);
    expect(b?.container).toEqual({ image: null, engine: 'docker', mount: 'ro' });
    expect([b?.runtime, b?.memoryMb, b?.cpus]).toEqual(['process', null, null]);
  });

  it('names every runtime problem with its path', () => {
    expect(
      messages({
        runtime: 'vm',
        services: {
          a: { command: 'x', runtime: 'lambda' },
          b: { command: 'x', runtime: { container: { image: 5, mount: 'yes', tag: 1 } } },
          c: { command: 'x', runtime: { container: {} }, container: {} },
          d: { command: 'x', memory: '12 parsecs', cpus: 0 },
        },
      }),
    ).toEqual([
      'runtime: expected "process", "container", "function" or "sidecar", got "vm"',
      'services.a.runtime: expected "process", "container", "function" or "sidecar", got "lambda"',
      'services.b.runtime.container.image: expected an image reference such as "node:20-slim" or "localhost/app:1", got 5',
      'services.b.runtime.container.mount: expected "ro", "rw" or false, got "yes"',
      'services.b.runtime.container: unknown key "tag"',
      "services.d.memory: expected a memory size in MB such as 256, '256m', '512MB' or '1g' (at least 4 MB), got \"12 parsecs\"",
      'services.d.cpus: expected a number of CPUs greater than 0, such as 0.5 or 2, got 0',
      'services.c.container: container settings are given twice: in "runtime: { container }" and in "container"; keep one',
    ]);
  });

  it('resolves sidecar settings with defaults, from either place', () => {
    const config = prepareConfig(
      {
        services: {
          a: { command: 'x', runtime: 'sidecar' },
          b: {
            command: 'x',
            runtime: {
              sidecar: {
                retries: 0,
                retryBudget: 0.5,
                minRetriesPerSecond: 2,
                timeout: '2s',
                tryTimeout: 500,
                breaker: { failures: 2, ejection: '5s', maxEjection: '1s' },
                balancing: 'least-request',
                mtls: 'permissive',
                certLifetime: '10m',
              },
            },
          },
          c: { command: 'x', sidecar: { breaker: false } },
        },
      },
      '/p',
      null,
    );
    const [a, b, c] = config.services;
    expect(a?.runtime).toBe('sidecar');
    expect(a?.sidecar).toEqual({
      retries: 2,
      retryBudget: 0.2,
      minRetriesPerSecond: 10,
      timeoutMs: 10_000,
      tryTimeoutMs: 0,
      breaker: { failures: 5, ejectionMs: 1000, maxEjectionMs: 60_000 },
      balancing: 'ewma',
      mtls: 'strict',
      certLifetimeMs: 3_600_000,
      // The front's bodyTimeout: the sidecars apply it too (they had 10 s whatever the config said).
      bodyTimeoutMs: 10_000,
    });
    expect(b?.runtime).toBe('sidecar');
    expect(b?.sidecar).toEqual({
      retries: 0,
      retryBudget: 0.5,
      minRetriesPerSecond: 2,
      timeoutMs: 2000,
      tryTimeoutMs: 500,
      // The longest ejection is never shorter than the first.
      breaker: { failures: 2, ejectionMs: 5000, maxEjectionMs: 5000 },
      balancing: 'least-request',
      mtls: 'permissive',
      certLifetimeMs: 600_000,
      bodyTimeoutMs: 10_000,
    });
    expect([c?.runtime, c?.sidecar.breaker]).toEqual(['process', null]);
    for (const [bodyTimeout, ms] of [
      [0, 0],
      ['2m', 120_000],
    ] as const) {
      const withProxy = prepareConfig(
        { services: { a: { command: 'x', runtime: 'sidecar', port: 0 } }, proxy: { bodyTimeout } },
        '/p',
        null,
      );
      expect(withProxy.services[0]?.sidecar.bodyTimeoutMs).toBe(ms);
    }
  });

  it('names every sidecar problem with its path', () => {
    expect(
      messages({
        services: {
          a: {
            command: 'x',
            runtime: {
              sidecar: {
                retries: -1,
                balancing: 'random',
                mtls: 'off',
                certLifetime: '1s',
                breaker: { failures: 0 },
                ttl: 1,
              },
            },
          },
          b: { command: 'x', runtime: { sidecar: {} }, sidecar: {} },
          c: { command: 'x', runtime: { sidecar: {}, container: {} } },
        },
      }),
    ).toEqual([
      'services.a.runtime.sidecar.retries: expected an integer of at least 0, got -1',
      'services.a.runtime.sidecar.breaker.failures: expected a positive integer, got 0',
      'services.a.runtime.sidecar.balancing: expected "ewma" or "least-request", got "random"',
      'services.a.runtime.sidecar.mtls: expected "strict" or "permissive", got "off"',
      'services.a.runtime.sidecar.certLifetime: expected a duration of at least 2s, such as \'1h\', got "1s"',
      'services.a.runtime.sidecar: unknown key "ttl"',
      'services.c.runtime: expected exactly one runtime, such as { container: { ... } }, { function: { ... } } or { sidecar: { ... } }',
      'services.b.sidecar: sidecar settings are given twice: in "runtime: { sidecar }" and in "sidecar"; keep one',
    ]);
  });
});

describe('config edges found in review', () => {
  it('keeps a tcp-mode service a process when the whole config runs as functions', () => {
    const raw = {
      runtime: 'function',
      services: {
        web: { command: 'x', port: 0 },
        db: { command: 'x', port: 5433, mode: 'tcp' },
      },
    };
    const runtimes = (options: { runtime?: 'function' }) =>
      prepareConfig(raw, '/p', null, options).services.map((s) => [s.name, s.runtime]);
    expect(runtimes({})).toEqual([
      ['web', 'function'],
      ['db', 'process'],
    ]);
    expect(runtimes({ runtime: 'function' })).toEqual([
      ['web', 'function'],
      ['db', 'process'],
    ]);
  });

  it('refuses 0 where it has no meaning: probe interval and timeout, startTimeout, function timeouts', () => {
    expect(
      messages({
        services: {
          a: { command: 'x', port: 0, startTimeout: 0, health: { http: '/h', interval: '0s', timeout: 0 } },
          f: { handler: 'fns/h.handler', port: 0, function: { timeout: 0, initTimeout: '0ms' } },
          ok: { command: 'x', stopTimeout: 0, drainTimeout: 0, health: { tcp: true, initialDelay: 0 } },
        },
      }),
    ).toEqual([
      'services.a.health.interval: expected a duration above 0 (0 has no meaning here), got "0s"',
      'services.a.health.timeout: expected a duration above 0 (0 has no meaning here), got 0',
      'services.a.startTimeout: expected a duration above 0 (0 has no meaning here), got 0',
      'services.f.function.timeout: expected a duration above 0 (0 has no meaning here), got 0',
      'services.f.function.initTimeout: expected a duration above 0 (0 has no meaning here), got "0ms"',
    ]);
  });

  it('refuses two services whose addresses would be the same MSUP_<NAME>_URL', () => {
    expect(
      messages({
        services: {
          'user-db': { command: 'x', port: 0 },
          user_db: { command: 'x', port: 0 },
          // Without ports, no address variable: no clash.
          'db-migrate': { command: 'x' },
          db_migrate: { command: 'x' },
        },
      }),
    ).toEqual([
      'services.user_db: its address would be MSUP_USER_DB_URL, as service "user-db"\'s is: rename one of them',
    ]);
  });

  it('names the path a function setting was given at', () => {
    expect(
      messages({
        services: {
          a: {
            command: 'x',
            port: 0,
            runtime: { function: { bootstrap: 'b.sh', minInstances: 3, maxInstances: 2 } },
          },
          b: { command: 'x', port: 0, function: { bootstrap: 'b.sh' } },
        },
      }),
    ).toEqual([
      'services.a.runtime.function.bootstrap: a bootstrap runs a handler: this service has no "handler"',
      'services.a.runtime.function.minInstances: 3 environments kept warm, but maxInstances is 2',
      'services.b.function.bootstrap: a bootstrap runs a handler: this service has no "handler"',
    ]);
  });

  it("keeps a function's derived timeouts within a timer's limit", async () => {
    const { adjustFunction } = await import('../../src/runtime/function/runtime.js');
    const { waitTimeoutMs } = await import('../../src/runtime/function/gateway.js');
    const [service] = prepareConfig(
      {
        services: {
          f: { handler: 'fns/h.handler', port: 0, function: { timeout: '300h', initTimeout: '300h' } },
        },
      },
      '/p',
      null,
    ).services;
    const adjusted = adjustFunction(service!);
    expect(adjusted.balancing.responseTimeoutMs).toBe(2 ** 31 - 1);
    expect(waitTimeoutMs(service!)).toBe(2 ** 31 - 1);
  });
});
