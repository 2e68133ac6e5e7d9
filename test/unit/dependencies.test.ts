import { describe, expect, it } from 'vitest';
import { dependencyIssues, stopWaves } from '../../src/config/dependencies.js';
import { prepareConfig } from '../../src/config/load.js';
import { validateConfig } from '../../src/config/validate.js';
import { dependencyBlocked, dependencyMet } from '../../src/service/start-verdict.js';
import type { InstanceInfo } from '../../src/types.js';

const graph = (edges: Record<string, string[]>) => new Map(Object.entries(edges));
const messages = (input: unknown) => {
  const r = validateConfig(input);
  return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
};

describe('dependsOn', () => {
  it('reports unknown services, self-references and cycles with their paths', () => {
    expect(dependencyIssues(graph({ a: ['b'], b: ['c'], c: ['a'], d: ['d', 'zz'] }))).toEqual([
      { path: 'services.d.dependsOn', message: 'a service cannot depend on itself' },
      { path: 'services.d.dependsOn', message: 'no service "zz" to depend on' },
      { path: 'services.a.dependsOn', message: 'dependency cycle: a → b → c → a' },
    ]);
    expect(dependencyIssues(graph({ api: ['db', 'cache'], db: [], cache: ['db'] }))).toEqual([]);
  });

  it('is checked as part of config validation', () => {
    expect(
      messages({
        services: { a: { command: 'x', dependsOn: ['b'] }, b: { command: 'y', dependsOn: { a: 'ready' } } },
      }),
    ).toEqual(['services.a.dependsOn: dependency cycle: a → b → a']);
    expect(
      messages({ services: { a: { command: 'x', dependsOn: { b: 'completed' } }, b: { command: 'y' } } }),
    ).toEqual([
      'services.a.dependsOn.b: "completed" waits for b to exit for good, but its restart policy is "always": give b restart: \'on-failure\' or \'never\'',
    ]);
    expect(
      messages({
        services: {
          a: { command: 'x', dependsOn: { b: 'completed' } },
          b: { command: 'y', restart: 'never' },
        },
      }),
    ).toEqual([]);
    expect(
      messages({ services: { a: { command: 'x', dependsOn: { b: 'healthy' } }, b: { command: 'y' } } }),
    ).toEqual(['services.a.dependsOn.b: expected "started", "ready" or "completed", got "healthy"']);
  });

  it('stops dependents before their dependencies', () => {
    expect(stopWaves(graph({ api: ['db', 'cache'], cache: ['db'], db: [], web: ['api'] }))).toEqual([
      ['web'],
      ['api'],
      ['cache'],
      ['db'],
    ]);
    expect(stopWaves(graph({ a: [], b: [] }))).toEqual([['a', 'b']]);
  });

  it('knows when a dependency reached started, ready or completed', () => {
    const i = (over: Partial<InstanceInfo>): InstanceInfo => ({
      service: 's',
      index: 0,
      runtime: 'process',
      id: 'p10',
      pid: 10,
      endpoint: null,
      port: null,
      lastProbe: null,
      state: 'running',
      ready: false,
      restarts: 0,
      lastExit: null,
      startedAt: 1,
      ...over,
    });
    expect(dependencyMet([i({})], 'started')).toBe(true);
    expect(dependencyMet([i({ state: 'waiting', pid: null, startedAt: null })], 'started')).toBe(false);
    expect(dependencyMet([i({ ready: true }), i({})], 'ready')).toBe(false);
    const done = { code: 0, signal: null, at: 1, uptimeMs: 5 };
    expect(dependencyMet([i({ state: 'exited', pid: null, lastExit: done })], 'completed')).toBe(true);
    expect(
      dependencyMet([i({ state: 'exited', pid: null, lastExit: { ...done, code: 1 } })], 'completed'),
    ).toBe(false);
    expect(dependencyMet([], 'ready')).toBe(false);
  });

  it('says when a dependency will not reach its condition by itself', () => {
    const i = (over: Partial<InstanceInfo>): InstanceInfo => ({
      service: 'db',
      index: 0,
      runtime: 'process',
      id: null,
      pid: null,
      endpoint: null,
      port: null,
      lastProbe: null,
      state: 'exited',
      ready: false,
      restarts: 0,
      lastExit: { code: 2, signal: null, at: 1, uptimeMs: 5 },
      startedAt: null,
      ...over,
    });
    const clean = { code: 0, signal: null, at: 1, uptimeMs: 5 };
    expect(dependencyBlocked('db', [i({})], 'ready')).toBe('its dependency db exited with code 2');
    expect(dependencyBlocked('db', [i({ lastExit: clean })], 'ready')).toBe(
      'its dependency db exited with code 0',
    );
    expect(dependencyBlocked('db', [i({})], 'completed')).toBe('its dependency db exited with code 2');
    expect(dependencyBlocked('db', [i({ lastExit: clean })], 'completed')).toBeNull();
    // Still restarted by its policy: it may get there.
    expect(dependencyBlocked('db', [i({ state: 'backoff' })], 'ready')).toBeNull();
    expect(dependencyBlocked('db', [i({ state: 'crash-loop' })], 'completed')).toBeNull();
    expect(dependencyBlocked('db', [i({ state: 'exited' })], 'started')).toBeNull();
    // Waiting on a dependency of its own that will not get there.
    const waiting = i({ state: 'waiting', lastExit: null, blocked: 'its dependency x exited with code 1' });
    expect(dependencyBlocked('db', [waiting], 'started')).toBe(
      'its dependency db will not start (its dependency x exited with code 1)',
    );
  });
});

describe('readiness and liveness settings', () => {
  const resolve = (service: Record<string, unknown>) =>
    prepareConfig({ services: { s: { command: 'x', ...service } } }, '/p', null).services[0]!;

  it('health is readiness and liveness; readiness alone is not liveness; liveness: false turns it off', () => {
    const both = resolve({ port: 80, health: { http: '/h', failureThreshold: 2 } });
    expect(both.health).toMatchObject({ probe: { kind: 'http', path: '/h' }, failureThreshold: 2 });
    expect(both.liveness).toEqual(both.health);
    const split = resolve({ port: 80, readiness: { http: '/ready' }, liveness: { tcp: true } });
    expect(split.health?.probe).toEqual({ kind: 'http', path: '/ready' });
    expect(split.liveness?.probe).toEqual({ kind: 'tcp' });
    expect(resolve({ port: 80, readiness: { http: '/r' } }).liveness).toBeNull();
    expect(resolve({ port: 80, health: { http: '/h' }, liveness: false }).liveness).toBeNull();
    expect(resolve({ port: 80 })).toMatchObject({ health: { probe: { kind: 'tcp' } }, liveness: null });
  });

  it('rejects health together with readiness', () => {
    expect(
      messages({ services: { s: { command: 'x', health: { tcp: true }, readiness: { tcp: true } } } }),
    ).toEqual([
      'services.s.readiness: "health" already sets readiness (and liveness): use "health", or "readiness" with "liveness"',
    ]);
  });
});
