// The supervisor's operations around its own start and stop: what restart and scale answer when a stop
// lands (or came before), and what listeners see when a stop lands while start() waits.
import { describe, expect, it } from 'vitest';
import { isMsupError, type LogRecord } from '../../src/index.js';
import { waitFor } from '../helpers/processes.js';
import { node, useProject } from '../helpers/project.js';

const project = useProject();

describe('restart and scale around a stop', () => {
  it('a stop during a rolling restart rejects it with MSUP_STOPPED, logging no error', async () => {
    const p = project();
    // The replacement reads .env again: it never listens, so the rollout is still waiting when the stop lands.
    p.write('.env', 'START_DELAY_MS=0\n');
    const sup = await p.start({
      watch: false,
      config: p.config({ web: { command: node('slow-start.js'), port: 0 } }),
    });
    p.write('.env', 'START_DELAY_MS=600000\n');
    const records: LogRecord[] = [];
    sup.on('log', (r) => records.push(r));
    const restarting = sup.restart('web').catch((e: unknown) => e);
    expect(await waitFor(() => records.some((r) => r.msg === 'started'))).toBe(true);
    await sup.stop();
    const error = await restarting;
    expect(isMsupError(error, 'MSUP_STOPPED')).toBe(true);
    expect(String((error as Error).message)).not.toContain('keeps serving');
    expect(records.filter((r) => r.level === 'error')).toEqual([]);
  });

  it('a reload that removes the service during its rolling restart rejects it with MSUP_STOPPED', async () => {
    const p = project();
    p.write('.env', 'START_DELAY_MS=0\n');
    p.writeConfig({
      web: { command: node('slow-start.js'), port: 0 },
      other: { command: node('echo-server.js'), port: 0 },
    });
    const sup = await p.start({ watch: false });
    p.write('.env', 'START_DELAY_MS=600000\n');
    const records: LogRecord[] = [];
    sup.on('log', (r) => records.push(r));
    const restarting = sup.restart('web').catch((e: unknown) => e);
    expect(await waitFor(() => records.some((r) => r.msg === 'started'))).toBe(true);
    p.writeConfig({ other: { command: node('echo-server.js'), port: 0 } });
    expect((await sup.reload()).removed).toEqual(['web']);
    const error = await restarting;
    expect(isMsupError(error, 'MSUP_STOPPED')).toBe(true);
    expect(records.filter((r) => r.level === 'error')).toEqual([]);
  });

  it('restart and scale reject with MSUP_STOPPED before start() and after stop()', async () => {
    const p = project();
    const sup = p.create({
      watch: false,
      config: p.config({ web: { command: node('echo-server.js'), port: 0, instances: 2 } }),
    });
    for (const attempt of [sup.restart('web'), sup.restart(), sup.scale('web', 3)]) {
      const error = await attempt.catch((e: unknown) => e);
      expect(isMsupError(error, 'MSUP_STOPPED')).toBe(true);
      expect((error as Error).message).toContain('not been started');
    }
    await sup.start();
    await sup.stop();
    for (const attempt of [sup.restart('web'), sup.restart(), sup.scale('web', 3)]) {
      expect(isMsupError(await attempt.catch((e: unknown) => e), 'MSUP_STOPPED')).toBe(true);
    }
    expect(sup.instances('web')).toHaveLength(2);
  });

  it('url, instances and proxyStats say the supervisor has not started, or has stopped (MSUP_STOPPED)', async () => {
    const p = project();
    const sup = p.create({
      watch: false,
      config: p.config({ web: { command: node('echo-server.js'), port: 0 } }),
    });
    const said = async (call: () => unknown) => {
      const error = await (async () => call())().catch((e: unknown) => e);
      expect(isMsupError(error, 'MSUP_STOPPED'), String(error)).toBe(true);
      return (error as Error).message;
    };
    for (const call of [() => sup.url('web'), () => sup.instances('web'), () => sup.proxyStats('web')]) {
      expect(await said(call)).toBe('the supervisor has not been started');
    }
    await sup.start();
    expect(sup.url('web')).toMatch(/^http:/);
    await sup.stop();
    expect(await said(() => sup.url('web'))).toBe('the supervisor has stopped');
    for (const call of [() => sup.restart('web'), () => sup.restart(), () => sup.scale('web', 2)]) {
      expect(await said(call)).toBe('the supervisor has stopped');
    }
    // What the instances ended as stays readable.
    expect(sup.instances('web')).toHaveLength(1);
  });
});

describe('a stop while start() waits', () => {
  it('stop() and whenStopped() resolve once start() has closed everything; nothing is said after', async () => {
    const p = project();
    const sup = p.create({
      watch: false,
      config: p.config({
        web: { command: node('slow-start.js'), port: 0, env: { START_DELAY_MS: '600000' } },
        worker: { command: node('worker.js') },
      }),
    });
    // What listeners get once stop() or whenStopped() has resolved: nothing.
    const after: string[] = [];
    let over = false;
    const said: string[] = [];
    sup.on('instance', (i) => over && after.push(`instance:${i.state}`));
    sup.on('log', (r) => {
      if (r.msg === 'stopped' && r.service === undefined) said.push(r.msg);
      if (over) after.push(`log:${r.msg}`);
    });
    void sup.whenStopped().then(() => {
      over = true;
    });
    const starting = sup.start().catch((e: unknown) => e);
    expect(await waitFor(() => sup.services().length === 2 && sup.instances('web')[0]?.pid !== null)).toBe(
      true,
    );
    await sup.stop();
    over = true;
    expect(isMsupError(await starting, 'MSUP_STOPPED')).toBe(true);
    await sup.stop();
    expect(after).toEqual([]);
    expect(said).toEqual(['stopped']);
  });
});

describe('options given but not valid', () => {
  it('start() refuses them with MSUP_USAGE naming the option, before anything starts', async () => {
    const p = project();
    const config = p.config({ web: { command: node('echo-server.js'), port: 0 } });
    const cases: [Record<string, unknown>, string][] = [
      [{ timeout: 'abc' }, 'timeout'],
      [{ timeout: -5 }, 'timeout'],
      [{ timeout: 1e12 }, 'timeout'],
      [{ watchLoopGuard: { restarts: -1 } }, 'watchLoopGuard.restarts'],
      [{ watchLoopGuard: { window: 'x' } }, 'watchLoopGuard.window'],
      [{ runtime: 'bogus' }, 'process, container, function, sidecar'],
      [{ host: 5 }, 'host: expected'],
      [{ host: '' }, 'host: expected'],
      [{ cwd: 5 }, 'cwd: expected'],
      [{ configFile: 5 }, 'configFile: expected'],
      [{ admin: { port: 99999 } }, 'admin.port: expected a port number from 0 to 65535, got 99999'],
      [{ admin: { port: '80' } }, 'admin.port: expected a port number from 0 to 65535, got "80"'],
      [{ admin: { port: 1.5 } }, 'admin.port'],
      [{ admin: { host: 5 } }, 'admin.host: expected'],
      [{ admin: 'yes' }, 'admin: expected'],
      [{ wait: 'no' }, 'wait: expected true or false, got "no"'],
      [{ watch: 0 }, 'watch: expected true or false, got 0'],
      [{ control: 'off' }, 'control: expected true or false'],
    ];
    for (const [options, named] of cases) {
      const sup = p.create({ watch: false, config, ...options });
      const error = await sup.start().catch((e: unknown) => e);
      expect(isMsupError(error, 'MSUP_USAGE'), JSON.stringify(options)).toBe(true);
      expect((error as Error).message).toContain(named);
      // A start that failed is over, as any other failed start.
      await sup.whenStopped();
    }
  });

  it('start() refuses a cwd that is a file, naming it', async () => {
    const p = project();
    const file = p.write('afile', 'x');
    const config = p.config({ web: { command: node('echo-server.js'), port: 0 } });
    for (const options of [{ config }, {}]) {
      const sup = p.create({ watch: false, ...options, cwd: file });
      const error = await sup.start().catch((e: unknown) => e);
      expect(isMsupError(error, 'MSUP_USAGE')).toBe(true);
      expect((error as Error).message).toBe(`cwd: ${file} is not a folder`);
      await sup.whenStopped();
    }
  });

  it('restart, url, instances, scale and proxyStats refuse a service name that is not a string', async () => {
    const p = project();
    const sup = await p.start({
      watch: false,
      config: p.config({ web: { command: node('echo-server.js'), port: 0 } }),
    });
    const name = 5 as unknown as string;
    const calls: [string, () => unknown][] = [
      ['restart', () => sup.restart(name)],
      ['url', () => sup.url(name)],
      ['instances', () => sup.instances(name)],
      ['scale', () => sup.scale(name, 2)],
      ['proxyStats', () => sup.proxyStats(name)],
    ];
    for (const [method, call] of calls) {
      const error = await (async () => call())().catch((e: unknown) => e);
      expect(isMsupError(error, 'MSUP_USAGE'), method).toBe(true);
      expect((error as Error).message).toBe(`${method}: expected a service name (a string), got 5`);
    }
    const count = await sup.scale('web', '2' as unknown as number).catch((e: unknown) => e);
    expect(isMsupError(count, 'MSUP_USAGE')).toBe(true);
    expect((count as Error).message).toContain('got "2"');
    expect(sup.instances('web')).toHaveLength(1);
  });

  it('restart() and status() refuse them too, and status() never makes Node print a warning', async () => {
    const p = project();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const sup = await p.start({
        watch: false,
        config: p.config({ web: { command: node('echo-server.js'), port: 0 } }),
      });
      for (const readyTimeout of ['soon', -1]) {
        const error = await sup.restart('web', { readyTimeout }).catch((e: unknown) => e);
        expect(isMsupError(error, 'MSUP_USAGE')).toBe(true);
        expect((error as Error).message).toContain('readyTimeout');
      }
      for (const sampleMs of [Number.NaN, 1e12, -1]) {
        const error = await sup.status(sampleMs).catch((e: unknown) => e);
        expect(isMsupError(error, 'MSUP_USAGE')).toBe(true);
        expect((error as Error).message).toContain('sampleMs');
      }
      expect(sup.instances('web')[0]?.restarts).toBe(0);
      await new Promise((r) => setImmediate(r));
      expect(warnings.map((w) => w.name)).not.toContain('TimeoutOverflowWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('a dependency that will not get there', () => {
  // Without a probe, 500 ms up counts as ready, and on a loaded machine node can take that long to exit.
  const never = { exec: [process.execPath, '-e', 'process.exit(1)'] };

  it('logs why the dependent will not start, and shows it in status', async () => {
    const p = project();
    const exit2 = [process.execPath, '-e', 'process.exit(2)'];
    const sup = p.create({
      watch: false,
      wait: false,
      config: p.config({
        b: { command: exit2, restart: 'never', readiness: never },
        a: { command: node('worker.js'), dependsOn: { b: 'ready' } },
      }),
    });
    const records: LogRecord[] = [];
    sup.on('log', (r) => records.push(r));
    await sup.start();
    const said = () => records.find((r) => r.msg === 'a will not start: its dependency b exited with code 2');
    expect(await waitFor(() => said() !== undefined)).toBe(true);
    expect(said()).toMatchObject({ level: 'error', service: 'a' });
    const status = await sup.status(0);
    const a = status.services.find((s) => s.name === 'a')!;
    expect(a.instances[0]).toMatchObject({
      state: 'waiting',
      blocked: 'its dependency b exited with code 2',
    });
    expect(status.ready).toBe(false);
  });

  it('fails start() naming the dependency, which exited cleanly but was to be ready', async () => {
    // A clean exit is no failure of its own, but `a` still waits for b to be ready.
    const q = project();
    const error = await q
      .start({
        watch: false,
        timeout: '10s',
        config: q.config({
          b: { command: [process.execPath, '-e', ''], restart: 'never', readiness: never },
          a: { command: node('worker.js'), dependsOn: { b: 'ready' } },
        }),
      })
      .catch((e: unknown) => e);
    expect(isMsupError(error, 'MSUP_START_FAILED')).toBe(true);
    expect((error as Error).message).toBe('service "a" will not start: its dependency b exited with code 0');
  });
});

describe('scale', () => {
  it('resolves once the new instances are launched', async () => {
    const p = project();
    const sup = await p.start({
      watch: false,
      config: p.config({ web: { command: node('echo-server.js'), port: 0 } }),
    });
    await sup.scale('web', 3);
    const after = sup.instances('web');
    expect(after).toHaveLength(3);
    expect(after.every((i) => i.pid !== null && i.startedAt !== null)).toBe(true);
  });
});

describe('config reload', () => {
  it('does not roll the instances its own scale-up started with the new settings', async () => {
    const p = project();
    p.writeConfig({ web: { command: node('echo-server.js'), port: 0, env: { COLOUR: 'red' } } });
    const sup = await p.start({ watch: false });
    const records: LogRecord[] = [];
    sup.on('log', (r) => records.push(r));
    p.writeConfig({
      web: { command: node('echo-server.js'), port: 0, instances: 3, env: { COLOUR: 'blue' } },
    });
    const result = await sup.reload();
    expect(result.restarted).toEqual(['web']);
    expect(records.filter((r) => r.msg === 'replaced').map((r) => r.instance)).toEqual([0]);
    expect(sup.instances('web').map((i) => i.restarts)).toEqual([1, 0, 0]);
  });
});
