// The instance slot and the service, on the fake runtime: restart policy, launch failures, rolling
// restart, retiring during a launch, scale-down and probe reporting, exactly and without processes.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { prepareConfig } from '../../src/config/load.js';
import type { Runtime, RuntimeHost } from '../../src/contract.js';
import { startMonitor } from '../../src/health/monitor.js';
import { PortAllocator } from '../../src/runtime/ports.js';
import { EndpointDirectory } from '../../src/service/directory.js';
import { Service, type ServiceDeps, type ServiceEvent } from '../../src/service/service.js';
import { doneStarting } from '../../src/service/start-verdict.js';
import type { ResolvedProbeSettings, ServiceConfig } from '../../src/types.js';
import { createFakeRuntime, type FakeRuntime } from '../helpers/fake-runtime.js';
import { waitFor } from '../helpers/processes.js';

interface Probe {
  instanceKey: string;
  ready(): void;
  unready(detail: string): void;
  result(ok: boolean, detail: string): void;
  /** The settings the monitor was started with. */
  settings: ResolvedProbeSettings;
  stopped: boolean;
}

interface Harness {
  fake: FakeRuntime;
  service: Service;
  events: ServiceEvent[];
  probes: Probe[];
  /** Liveness probes (they start once an instance is first ready). */
  liveness: Probe[];
  logs(msg: string): Record<string, unknown>[];
}

const services: Service[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(services.splice(0).map((s) => s.stop()));
});

/** The service `web` with these settings, resolved (a reload hands a service new ones with `update`). */
function webService(config: Partial<ServiceConfig>) {
  return prepareConfig(
    { services: { web: { command: ['node', 'x.js'], port: 0, health: { tcp: true }, ...config } } },
    '/tmp',
    null,
  ).services[0]!;
}

async function harness(
  config: Partial<ServiceConfig>,
  options: { autoReady?: boolean; drain?: () => Promise<void>; realProbes?: boolean } = {},
): Promise<Harness> {
  const fake = createFakeRuntime();
  const host: RuntimeHost = {
    root: '/tmp',
    stateDir: '/tmp/.msup',
    project: 'test',
    ports: new PortAllocator(),
    remember: () => () => {},
    guard: () => () => {},
    log: () => {},
    directory: new EndpointDirectory(),
  };
  const runtime: Runtime = await fake.open(host);
  const resolved = webService(config);
  const events: ServiceEvent[] = [];
  const probes: Probe[] = [];
  const liveness: Probe[] = [];
  const deps: ServiceDeps = {
    runtime: () => runtime,
    monitor: (settings, target, handlers, initiallyReady) => {
      // msup's own monitor, probing the fake instances for real.
      if (options.realProbes) return startMonitor(settings, target, handlers, initiallyReady);
      const probe: Probe = {
        instanceKey: String(target.endpoint?.port),
        ready: () => handlers.onReady('ok'),
        unready: (detail) => handlers.onUnready(detail),
        result: (ok, detail) => handlers.onResult?.({ ok, detail }),
        settings,
        stopped: false,
      };
      (initiallyReady ? liveness : probes).push(probe);
      if (!initiallyReady && options.autoReady !== false) setImmediate(() => !probe.stopped && probe.ready());
      return {
        stop() {
          probe.stopped = true;
          return Promise.resolve();
        },
      };
    },
    prepare: async () => null,
    environment: () => ({}),
    drain: options.drain ?? (async () => {}),
    random: () => 0.5,
    onOutput: () => {},
    onEvent: (event) => events.push(event),
  };
  const service = new Service(resolved, deps);
  services.push(service);
  const logs = (msg: string) => events.flatMap((e) => (e.type === 'log' && e.msg === msg ? [e.fields] : []));
  return { fake, service, events, probes, liveness, logs };
}

const ready = (h: Harness) => h.service.instances().filter((i) => i.ready).length;

describe('instance slots on the fake runtime', () => {
  it('starts every instance, each with the runtime id and endpoint', async () => {
    const h = await harness({ instances: 3 });
    h.service.start();
    expect(await waitFor(() => ready(h) === 3)).toBe(true);
    const infos = h.service.instances();
    expect(infos.map((i) => i.runtime)).toEqual(['process', 'process', 'process']);
    expect(new Set(infos.map((i) => i.id)).size).toBe(3);
    expect(infos.every((i) => i.endpoint?.host === '127.0.0.1' && i.port === i.endpoint.port)).toBe(true);
    const readyEvents = h.events.filter((e) => e.type === 'ready');
    expect(readyEvents).toHaveLength(3);
  });

  it('restarts a crashed instance with backoff, then shows a crash loop', async () => {
    const h = await harness({ restart: { initialDelay: 5, multiplier: 2, crashLoopAfter: 3 } });
    h.service.start();
    for (let crash = 1; crash <= 3; crash++) {
      expect(await waitFor(() => h.fake.alive().length === 1 && ready(h) === 1)).toBe(true);
      h.fake.alive()[0]?.exit(1);
      expect(await waitFor(() => h.fake.started.length === crash + 1)).toBe(true);
    }
    const delays = h.logs('restarting').map((f) => f.delayMs);
    expect(delays).toHaveLength(2);
    expect(h.logs('crash loop')).toHaveLength(1);
    expect(h.service.instances()[0]?.restarts).toBe(3);
  });

  it('turns a launch the runtime refuses into an early exit with the reason, and retries', async () => {
    const h = await harness({ restart: { initialDelay: 5 } });
    h.fake.failNext(new Error('no free loopback port'));
    h.service.start();
    expect(await waitFor(() => ready(h) === 1)).toBe(true);
    const info = h.service.instances()[0]!;
    expect(info.lastExit?.error).toBe('no free loopback port');
    expect(info.restarts).toBe(1);
    expect(h.logs('exited')[0]).toMatchObject({ error: 'no free loopback port' });
  });

  it('replaces instances one at a time, the new one ready before the old one leaves', async () => {
    const h = await harness({ instances: 2 });
    h.service.start();
    expect(await waitFor(() => ready(h) === 2)).toBe(true);
    const before = h.fake.alive().map((i) => i.id);
    h.events.length = 0;
    const result = await h.service.restart({ readyTimeoutMs: 5000 });
    expect(result).toEqual({ service: 'web', restarted: [0, 1], failed: null });
    const order = h.events.flatMap((e) => (e.type === 'ready' || e.type === 'unready' ? [e.type] : []));
    expect(order).toEqual(['ready', 'unready', 'ready', 'unready']);
    expect(before.every((id) => !h.fake.alive().some((i) => i.id === id))).toBe(true);
    // The replacement's 'started' record carries the restart count it will have.
    expect(h.logs('started').map((f) => f.restarts)).toEqual([1, 1]);
    expect(h.service.instances().map((i) => i.restarts)).toEqual([1, 1]);
  });

  it('keeps the old instance when its replacement never becomes ready', async () => {
    const h = await harness({}, { autoReady: false });
    h.service.start();
    await waitFor(() => h.probes.length === 1);
    h.probes[0]?.ready();
    expect(await waitFor(() => ready(h) === 1)).toBe(true);
    const old = h.fake.alive()[0]!;
    const result = await h.service.restart({ readyTimeoutMs: 100 });
    expect(result.failed).toEqual({ index: 0, reason: 'replacement not ready within 100ms (readyTimeout)' });
    expect(old.alive).toBe(true);
    expect(h.fake.alive()).toEqual([old]);
    expect(h.service.instances()[0]).toMatchObject({ ready: true, id: old.id });
  });

  it('lets the replacement take over when the old instance crashes while the replacement launches', async () => {
    const h = await harness({ restart: { initialDelay: 5 } });
    h.service.start();
    expect(await waitFor(() => ready(h) === 1)).toBe(true);
    const old = h.fake.alive()[0]!;
    const release = h.fake.hold();
    const rollout = h.service.restart({ readyTimeoutMs: 5000 });
    expect(await waitFor(() => h.fake.held() >= 1)).toBe(true);
    old.exit(1);
    // Its exit handled (the 'gone' event comes right before the restart decision): no restart of its own.
    expect(await waitFor(() => h.events.some((e) => e.type === 'gone'))).toBe(true);
    expect(h.logs('restarting')).toEqual([]);
    release();
    expect(await rollout).toEqual({ service: 'web', restarted: [0], failed: null });
    expect(await waitFor(() => ready(h) === 1)).toBe(true);
    // One instance runs, and it is the one the service knows.
    expect(h.fake.started).toHaveLength(2);
    expect(h.fake.alive().map((i) => i.id)).toEqual([h.service.instances()[0]?.id]);
  });

  it('shows the replacement starting when the old instance crashes meanwhile, and says it is gone if that fails', async () => {
    const h = await harness({ restart: { initialDelay: 60_000 } }, { autoReady: false });
    h.service.start();
    await waitFor(() => h.probes.length === 1);
    h.probes[0]?.ready();
    expect(await waitFor(() => ready(h) === 1)).toBe(true);
    expect(h.service.oldInstanceNote(0)).toBe('the old instance keeps serving');
    const old = h.fake.alive()[0]!;
    const rollout = h.service.restart({ readyTimeoutMs: 60_000 });
    expect(await waitFor(() => h.probes.length === 2)).toBe(true);
    old.exit(1);
    expect(await waitFor(() => h.events.some((e) => e.type === 'gone'))).toBe(true);
    expect(h.service.instances()[0]).toMatchObject({ state: 'starting', pid: null, ready: false });
    h.fake.alive()[0]?.exit(1);
    const result = await rollout;
    expect(result.failed).toEqual({ index: 0, reason: 'replacement exited with code 1' });
    expect(h.service.instances()[0]?.state).toBe('backoff');
    expect(h.service.oldInstanceNote(0)).toBe('the old instance exited meanwhile (now backoff)');
  });

  it('stops a replaced instance still draining when the service stops, and waits for it', async () => {
    let draining = false;
    const h = await harness(
      {},
      {
        drain: () => {
          draining = true;
          return new Promise(() => {});
        },
      },
    );
    h.service.start();
    expect(await waitFor(() => ready(h) === 1)).toBe(true);
    const old = h.fake.alive()[0]!;
    const rollout = h.service.restart({ readyTimeoutMs: 5000 });
    expect(await waitFor(() => draining)).toBe(true);
    expect(old.alive).toBe(true);
    await h.service.stop();
    expect(old.alive).toBe(false);
    expect(old.endedBy).toBe('stop');
    expect(h.fake.alive()).toEqual([]);
    expect((await rollout).failed).toBeNull();
  });

  it('counts a job that ran to a clean end as restarted', async () => {
    const h = await harness({
      port: undefined,
      health: undefined,
      restart: 'on-failure',
      env: { BEHAVE: 'exit:0' },
    });
    h.service.start();
    expect(await waitFor(() => h.service.instances()[0]?.state === 'exited')).toBe(true);
    expect(await h.service.restart({ readyTimeoutMs: 2000 })).toEqual({
      service: 'web',
      restarted: [0],
      failed: null,
    });
    expect(h.fake.started).toHaveLength(2);
  });

  it('backs off, up to a crash loop, an instance killed at startTimeout however long it ran', async () => {
    const h = await harness(
      { startTimeout: 50, restart: { initialDelay: 5, resetAfter: 10, crashLoopAfter: 3 } },
      { autoReady: false },
    );
    h.service.start();
    expect(await waitFor(() => h.logs('crash loop').length === 1, 10_000)).toBe(true);
    expect(h.logs('not ready in time: restarting').length).toBeGreaterThanOrEqual(3);
    expect(h.logs('restarting').map((f) => f.failures)).toEqual([1, 2]);
  });

  it('stops what a launch under way started, when the service stops meanwhile', async () => {
    const h = await harness({ instances: 2 });
    const release = h.fake.hold();
    h.service.start();
    const stopped = h.service.stop();
    let done = false;
    void stopped.then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    release();
    await stopped;
    expect(h.fake.started.length).toBe(2);
    expect(h.fake.alive()).toEqual([]);
    expect(h.fake.started.map((i) => i.endedBy)).toEqual(['stop', 'stop']);
  });

  it('logs a stop per instance on a scale-down', async () => {
    const h = await harness({ instances: 3 });
    h.service.start();
    expect(await waitFor(() => ready(h) === 3)).toBe(true);
    await h.service.scale(1);
    expect(h.logs('stopped').map((f) => f.instance)).toEqual([1, 2]);
    expect(h.fake.alive()).toHaveLength(1);
  });

  it('keeps the last probe result and logs each new way a readiness probe fails', async () => {
    const h = await harness({}, { autoReady: false });
    h.service.start();
    await waitFor(() => h.probes.length === 1);
    const probe = h.probes[0]!;
    probe.result(false, 'tcp connect failed: ECONNREFUSED');
    // While an instance boots, a failing probe is expected: nothing is logged.
    expect(h.logs('readiness probe failing')).toEqual([]);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 5000 });
    probe.result(false, 'GET /health answered 404');
    probe.result(false, 'GET /health answered 404');
    probe.result(false, 'GET /health answered 404');
    probe.result(false, 'GET /health failed: timed out after 1000ms');
    expect(h.logs('readiness probe failing').map((f) => f.detail)).toEqual([
      'GET /health answered 404',
      'GET /health failed: timed out after 1000ms',
    ]);
    expect(h.service.instances()[0]?.lastProbe).toMatchObject({
      ok: false,
      detail: 'GET /health failed: timed out after 1000ms',
    });
    probe.result(true, 'GET /health answered 200');
    probe.ready();
    expect(h.service.instances()[0]).toMatchObject({ ready: true, lastProbe: { ok: true } });
  });

  it('keeps an instance stopped for not being ready in time out of rotation when its probe passes as it stops', async () => {
    const h = await harness(
      {
        startTimeout: 50,
        stopTimeout: 60_000,
        env: { BEHAVE: 'ignore-term' },
        restart: { initialDelay: 60_000 },
      },
      { autoReady: false },
    );
    h.service.start();
    try {
      expect(await waitFor(() => h.logs('not ready in time: restarting').length === 1)).toBe(true);
      // It gets ready at last while it takes its time over SIGTERM: too late, it is on its way out.
      h.probes[0]!.ready();
      expect(h.service.instances()[0]).toMatchObject({ ready: false, state: 'starting' });
      expect(h.events.filter((e) => e.type === 'ready')).toEqual([]);
      expect(h.logs('ready')).toEqual([]);
    } finally {
      for (const stuck of h.fake.alive()) stuck.exit(null, 'SIGKILL');
    }
    expect(await waitFor(() => h.service.instances()[0]?.state === 'backoff')).toBe(true);
  });

  it('keeps an instance whose liveness failed out of rotation, and restarts it once, whatever its probes say as it stops', async () => {
    const h = await harness(
      {
        health: undefined,
        readiness: { http: '/ready' },
        liveness: { http: '/live' },
        stopTimeout: 60_000,
        env: { BEHAVE: 'ignore-term' },
        restart: { initialDelay: 60_000 },
      },
      { autoReady: false },
    );
    h.service.start();
    try {
      expect(await waitFor(() => h.probes.length === 1)).toBe(true);
      const readiness = h.probes[0]!;
      readiness.ready();
      expect(h.liveness).toHaveLength(1);
      const liveness = h.liveness[0]!;
      readiness.unready('GET /ready answered 503');
      liveness.unready('GET /live failed: timed out after 1000ms');
      expect(h.logs('liveness failed: restarting')).toHaveLength(1);
      const readyEvents = h.events.filter((e) => e.type === 'ready').length;
      // While it takes its time over SIGTERM, its readiness passes again, and its liveness passes, then fails.
      readiness.ready();
      liveness.ready();
      liveness.unready('GET /live failed: timed out after 1000ms');
      expect(h.service.instances()[0]?.ready).toBe(false);
      expect(h.events.filter((e) => e.type === 'ready')).toHaveLength(readyEvents);
      expect(h.logs('liveness failed: restarting')).toHaveLength(1);
    } finally {
      for (const stuck of h.fake.alive()) stuck.exit(null, 'SIGKILL');
    }
    expect(await waitFor(() => h.service.instances()[0]?.state === 'backoff')).toBe(true);
    expect(h.logs('exited')).toEqual([expect.objectContaining({ reason: 'liveness probe failed' })]);
  });

  it('probes an instance launched before a reload with its own liveness probe, while its replacement starts', async () => {
    const before = { health: undefined, readiness: { http: '/ready' }, liveness: { http: '/live' } };
    const h = await harness(before, { autoReady: false });
    h.service.start();
    expect(await waitFor(() => h.probes.length === 1)).toBe(true);
    // A reload moves the liveness probe while the instance still starts, and rolls the service.
    h.service.update(webService({ ...before, liveness: { http: '/healthz', timeout: '100ms' } }));
    const rollout = h.service.restart({ changedOnly: true });
    expect(await waitFor(() => h.probes.length === 2)).toBe(true);
    // The old instance becomes ready meanwhile: its liveness probe is the one its code was written for.
    h.probes[0]!.ready();
    expect(h.liveness).toHaveLength(1);
    expect(h.liveness[0]!.settings).toMatchObject({
      probe: { kind: 'http', path: '/live' },
      timeoutMs: 1000,
    });
    // Its replacement, once ready, has the new one.
    h.probes[1]!.ready();
    expect(await rollout).toEqual({ service: 'web', restarted: [0], failed: null });
    expect(h.liveness).toHaveLength(2);
    expect(h.liveness[1]!.settings).toMatchObject({
      probe: { kind: 'http', path: '/healthz' },
      timeoutMs: 100,
    });
  });

  it('gives no liveness probe a reload added to an instance launched without one, when it is ready again', async () => {
    const before = { health: undefined, readiness: { http: '/ready' } };
    const h = await harness(before, { autoReady: false });
    h.service.start();
    expect(await waitFor(() => h.probes.length === 1)).toBe(true);
    h.probes[0]!.ready();
    h.service.update(webService({ ...before, liveness: { http: '/healthz' } }));
    const rollout = h.service.restart({ changedOnly: true });
    expect(await waitFor(() => h.probes.length === 2)).toBe(true);
    // While its replacement starts, its readiness fails for a moment (a busy instance), then passes again.
    h.probes[0]!.unready('GET /ready answered 503');
    h.probes[0]!.ready();
    expect(h.liveness).toEqual([]);
    h.probes[1]!.ready();
    expect(await rollout).toEqual({ service: 'web', restarted: [0], failed: null });
    expect(h.liveness.map((p) => p.settings.probe)).toEqual([{ kind: 'http', path: '/healthz' }]);
  });

  it('counts an instance stopped for not being ready in time as failed, even when it exits 0 on SIGTERM', async () => {
    const h = await harness(
      { startTimeout: 50, stopTimeout: 60_000, env: { BEHAVE: 'ignore-term' }, restart: 'never' },
      { autoReady: false },
    );
    h.service.start();
    try {
      expect(await waitFor(() => h.logs('not ready in time: stopping').length === 1)).toBe(true);
      // A graceful shutdown: it ends with code 0 on msup's SIGTERM.
      h.fake.alive()[0]?.exit(0);
    } finally {
      for (const stuck of h.fake.alive()) stuck.exit(null, 'SIGKILL');
    }
    expect(await waitFor(() => h.service.instances()[0]?.state === 'exited')).toBe(true);
    const info = h.service.instances()[0]!;
    // Not a one-shot run that ended well (start() and dependsOn 'completed' would take it for one).
    expect(info.lastExit).toMatchObject({ code: 0, unhealthy: true, reason: 'not ready in time' });
    expect(doneStarting(info)).toBe(false);
    expect(h.logs('exited')).toEqual([expect.objectContaining({ code: 0, reason: 'not ready in time' })]);
    expect(h.logs('not restarting')).toEqual([
      expect.objectContaining({ policy: 'never', reason: 'exited with code 0, not ready in time' }),
    ]);
  });

  it("says it stops, not restarts, an instance not ready in time or whose liveness failed, with restart: 'never'", async () => {
    const late = await harness({ startTimeout: 50, restart: 'never' }, { autoReady: false });
    late.service.start();
    expect(await waitFor(() => late.service.instances()[0]?.state === 'exited')).toBe(true);
    expect(late.logs('not ready in time: stopping')).toHaveLength(1);
    expect(late.logs('not ready in time: restarting')).toEqual([]);
    expect(late.logs('not restarting')).toEqual([expect.objectContaining({ policy: 'never' })]);

    const hung = await harness({ restart: 'never' });
    hung.service.start();
    expect(await waitFor(() => hung.liveness.length === 1)).toBe(true);
    hung.liveness[0]!.unready('GET /health failed: timed out after 1000ms');
    expect(await waitFor(() => hung.service.instances()[0]?.state === 'exited')).toBe(true);
    expect(hung.logs('liveness failed: stopping')).toHaveLength(1);
    expect(hung.logs('liveness failed: restarting')).toEqual([]);
    expect(hung.fake.started).toHaveLength(1);
  });

  it('still says restarting when the policy restarts it', async () => {
    const h = await harness(
      { startTimeout: 50, restart: { policy: 'on-failure', initialDelay: 60_000 } },
      { autoReady: false },
    );
    h.service.start();
    expect(await waitFor(() => h.service.instances()[0]?.state === 'backoff')).toBe(true);
    expect(h.logs('not ready in time: restarting')).toHaveLength(1);
  });

  it('fails an exec probe whose runtime rejects, with the error, and probes on', async () => {
    const h = await harness({ health: { exec: 'true' } }, { realProbes: true });
    h.fake.failExec(new Error('the engine is gone'));
    h.service.start();
    const lastProbe = () => h.service.instances()[0]?.lastProbe;
    expect(await waitFor(() => lastProbe()?.detail === 'exec failed: the engine is gone')).toBe(true);
    expect(lastProbe()?.ok).toBe(false);
    expect(ready(h)).toBe(0);
    // It works again: the next probe passes, so nothing of the rejection stopped the monitor.
    h.fake.failExec(null);
    expect(await waitFor(() => ready(h) === 1)).toBe(true);
  });

  it('names the instance whose probe msup skipped for a shortage of its own, as its other probe events do', async () => {
    const h = await harness({ instances: 2, health: { exec: 'true' } }, { realProbes: true });
    // The runtime's exec fails as a spawn does when msup is out of descriptors: a probe msup could not make.
    h.fake.failExec(Object.assign(new Error('spawn /bin/sh EMFILE'), { code: 'EMFILE' }));
    h.service.start();
    const skipped = () => h.logs('probe skipped: msup is short of file descriptors');
    expect(await waitFor(() => skipped().length === 2)).toBe(true);
    const ids = h.service.instances().map((i) => i.id);
    expect(skipped().sort((a, b) => Number(a.instance) - Number(b.instance))).toEqual([
      expect.objectContaining({
        service: 'web',
        instance: 0,
        id: ids[0],
        probe: 'readiness',
        detail: 'exec failed: spawn /bin/sh EMFILE',
      }),
      expect.objectContaining({ service: 'web', instance: 1, id: ids[1], probe: 'readiness' }),
    ]);
    expect(ready(h)).toBe(0);
    // Once msup has descriptors again, the instances are ready; then their liveness probes say which too.
    h.fake.failExec(null);
    expect(await waitFor(() => ready(h) === 2)).toBe(true);
    h.fake.failExec(Object.assign(new Error('spawn /bin/sh EAGAIN'), { code: 'EAGAIN' }));
    const short = () => h.logs('probe skipped: msup is short of processes');
    expect(await waitFor(() => short().some((r) => r.probe === 'liveness' && r.instance === 1))).toBe(true);
    expect(short().find((r) => r.probe === 'liveness' && r.instance === 1)).toMatchObject({
      service: 'web',
      id: ids[1],
      detail: 'exec failed: spawn /bin/sh EAGAIN',
    });
  });
});
