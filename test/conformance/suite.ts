// The runtime conformance suite: the same tests, run once per runtime (test/conformance/*.test.ts), so
// the supervisor can treat every runtime alike. Each test drives the runtime through the contract only.
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prepareConfig } from '../../src/config/load.js';
import type { RunningInstance, Runtime, RuntimePlugin } from '../../src/contract.js';
import { runProbe } from '../../src/health/probe.js';
import { readState } from '../../src/project/state-file.js';
import { Runtimes } from '../../src/runtimes.js';
import { EndpointDirectory } from '../../src/service/directory.js';
import type { ExitInfo, OutputLine, ResolvedService, ServiceConfig } from '../../src/types.js';
import { expectNoTaggedProcesses, waitFor } from '../helpers/processes.js';
import { fixture } from '../helpers/project.js';

export interface ConformanceTarget {
  name: string;
  plugin(): RuntimePlugin;
  /** Why this runtime cannot be tested here (printed), or undefined. */
  unavailable?(): string | undefined;
  /** Whether usage() reports real figures (a fake has none). */
  measuresUsage: boolean;
  /** What of this test run the runtime still holds (containers, ...), after everything was stopped. */
  leftovers?(tag: string, root: string): Promise<string[]>;
  /** How long a launch may take here (an image build on the first one). */
  startTimeoutMs?: number;
  /** Removes what the runtime keeps for the project beyond its instances (images), after the suite. */
  cleanup?(root: string): void;
  /**
   * Set, to why, when an instance is a gateway in msup's own process that starts its processes on demand
   * (a function). Then the suite sends a request before it expects output; after a reap it checks that the
   * processes are gone (the gateway dies with msup, so it leaves nothing of its own); and the two exit
   * tests do not apply, because a process that exits ends only itself (the gateway starts another at the
   * next request): they are reported skipped, with this reason in their names.
   */
  gateway?: string;
}

/** Every process's command line, as any user of the machine can read it. */
function commandLines(): string[] {
  const lines: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      lines.push(readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' '));
    } catch {
      // ended meanwhile
    }
  }
  return lines;
}

const within = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms}ms`)), ms)),
  ]);

export function describeRuntime(target: ConformanceTarget): void {
  const reason = target.unavailable?.();
  if (reason) console.log(`skipping the ${target.name} conformance suite: ${reason}`);
  describe.skipIf(reason !== undefined)(`runtime conformance: ${target.name}`, () => {
    const tag = randomUUID();
    let root = '';
    let runtimes: Runtimes;
    let runtime: Runtime;
    let plugin: RuntimePlugin;
    const launched: RunningInstance[] = [];
    const startMs = target.startTimeoutMs ?? 15_000;

    beforeAll(async () => {
      root = mkdtempSync(path.join(os.tmpdir(), 'msup-conformance-'));
      copyFileSync(fixture('behave.js'), path.join(root, 'behave.js'));
      plugin = target.plugin();
      runtimes = await Runtimes.open(root, () => {}, new EndpointDirectory(), { [target.name]: plugin });
      runtime = await runtimes.get(target.name);
    }, 120_000);

    afterEach(async () => {
      await Promise.all(launched.splice(0).map((i) => i.stop(1000)));
    });

    afterAll(async () => {
      await runtimes?.close();
      try {
        await expectNoTaggedProcesses(tag);
        if (target.leftovers) expect(await target.leftovers(tag, root)).toEqual([]);
      } finally {
        target.cleanup?.(root);
        rmSync(root, { recursive: true, force: true });
      }
    }, 60_000);

    const service = (
      over: Partial<ServiceConfig> = {},
      env: Record<string, string> = {},
    ): ResolvedService => {
      const config = prepareConfig(
        {
          services: {
            web: {
              command: ['node', 'behave.js'],
              port: 0,
              runtime: target.name,
              ...over,
              env: { MSUP_TEST_TAG: tag, ...env },
            },
          },
        },
        root,
        null,
      );
      return config.services[0] as ResolvedService;
    };

    const start = async (svc: ResolvedService, lines: OutputLine[] = []) => {
      await runtime.prepare?.(svc);
      const env: Record<string, string | undefined> = {
        ...process.env,
        ...svc.env,
        MSUP_SERVICE: svc.name,
        MSUP_INSTANCE: '0',
        MSUP_INSTANCES: '1',
      };
      delete env.PORT;
      const instance = await within(
        runtime.start({ service: svc, index: 0, instances: 1, env: env as Record<string, string> }, (l) =>
          lines.push(l),
        ),
        startMs,
        'start',
      );
      launched.push(instance);
      return instance;
    };

    const served = async (instance: RunningInstance) =>
      (
        await runProbe(
          { kind: 'http', path: '/' },
          { endpoint: instance.endpoint, exec: instance.exec },
          1000,
        )
      ).ok;

    it('starts an instance with an id and an endpoint that serves', { timeout: 60_000 }, async () => {
      const instance = await start(service());
      expect(instance.id).toMatch(/\S/);
      expect(instance.endpoint?.port).toBeGreaterThan(0);
      expect(await waitFor(() => served(instance), startMs)).toBe(true);
      const other = await start(service());
      expect(other.id).not.toBe(instance.id);
      expect(other.endpoint?.port).not.toBe(instance.endpoint?.port);
    });

    it('passes on whole output lines from stdout and stderr, with the service and index', {
      timeout: 60_000,
    }, async () => {
      const lines: OutputLine[] = [];
      const instance = await start(service(), lines);
      if (target.gateway) expect(await waitFor(() => served(instance), startMs)).toBe(true);
      // Both lines, not any two: stdout and stderr come through pipes of their own, and the app's third
      // line (`listening on`, stdout) can come before the stderr one.
      const seen = (stream: string, line: string) =>
        lines.some((l) => l.service === 'web' && l.index === 0 && l.stream === stream && l.line === line);
      await waitFor(
        () => seen('stdout', 'hello from web#0') && seen('stderr', 'a line on stderr from web#0'),
        startMs,
      );
      expect(lines).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ service: 'web', index: 0, stream: 'stdout', line: 'hello from web#0' }),
          expect.objectContaining({
            service: 'web',
            index: 0,
            stream: 'stderr',
            line: 'a line on stderr from web#0',
          }),
        ]),
      );
    });

    const exitTest = target.gateway ? it.skip : it;
    const exitNote = target.gateway ? ` (not applicable: ${target.gateway})` : '';

    exitTest(`reports an exit with its code${exitNote}`, { timeout: 60_000 }, async () => {
      const instance = await start(service({}, { BEHAVE: 'exit:3' }));
      const exit = await within(instance.exited, startMs, 'exit');
      expect(exit.code).toBe(3);
      expect(exit.signal).toBeNull();
    });

    exitTest(`reports an exit by a signal${exitNote}`, { timeout: 60_000 }, async () => {
      const instance = await start(service({}, { BEHAVE: 'signal:SIGKILL' }));
      const exit = await within(instance.exited, startMs, 'exit');
      expect(exit.signal).toBe('SIGKILL');
    });

    it('stops an instance politely, and forcibly after the grace period', { timeout: 60_000 }, async () => {
      const polite = await start(service());
      expect(await waitFor(() => served(polite), startMs)).toBe(true);
      await within(polite.stop(5000), 5000, 'a polite stop');
      const politeExit = await polite.exited;
      expect(politeExit.signal === 'SIGKILL').toBe(false);
      expect(await served(polite)).toBe(false);

      const stubborn = await start(service({}, { BEHAVE: 'ignore-term' }));
      expect(await waitFor(() => served(stubborn), startMs)).toBe(true);
      const began = Date.now();
      await within(stubborn.stop(700), 8000, 'a forced stop');
      expect(Date.now() - began).toBeGreaterThanOrEqual(600);
      expect(await served(stubborn)).toBe(false);
    });

    it('kills an instance at once', { timeout: 60_000 }, async () => {
      const instance = await start(service({}, { BEHAVE: 'ignore-term' }));
      expect(await waitFor(() => served(instance), startMs)).toBe(true);
      instance.kill();
      const exit: ExitInfo = await within(instance.exited, 8000, 'exit after kill');
      expect(exit.signal ?? exit.code).toBeTruthy();
      await instance.stop(1000);
      expect(await served(instance)).toBe(false);
    });

    it('ends what it started with the instance (a child process, a whole container)', {
      timeout: 60_000,
    }, async () => {
      const lines: OutputLine[] = [];
      const instance = await start(service({}, { BEHAVE: 'spawn-child' }), lines);
      expect(await waitFor(() => served(instance), startMs)).toBe(true);
      await instance.stop(2000);
      await expectNoTaggedProcesses(tag, 5000);
    });

    it('runs a command where the instance runs, with its environment', { timeout: 60_000 }, async () => {
      const instance = await start(service());
      expect(await waitFor(() => served(instance), startMs)).toBe(true);
      const exec = (script: string) =>
        instance.exec({ shell: false, argv: ['sh', '-c', script] }, { timeoutMs: 5000 });
      expect((await exec('exit 4')).code).toBe(4);
      expect((await exec('test "$MSUP_SERVICE" = web && test -n "$PORT"')).code).toBe(0);
      const slow = await instance.exec(
        { shell: false, argv: ['node', '-e', 'setTimeout(() => {}, 5000)'] },
        { timeoutMs: 300 },
      );
      expect(slow.timedOut).toBe(true);
    });

    it("gives the service's env as the config says, also where msup's own has the same value", {
      timeout: 60_000,
    }, async () => {
      // (A container is given what msup and the config add to msup's environment, not all of it.)
      process.env.SAME_AS_MSUP = 'same';
      const secret = `secret-${randomUUID()}`;
      try {
        const instance = await start(service({}, { SAME_AS_MSUP: 'same', OWN_ONLY: 'own', SECRET: secret }));
        expect(await waitFor(() => served(instance), startMs)).toBe(true);
        const check = await instance.exec(
          { shell: false, argv: ['sh', '-c', 'test "$SAME_AS_MSUP" = same && test "$OWN_ONLY" = own'] },
          { timeoutMs: 5000 },
        );
        expect(check.code).toBe(0);
        // A command run where the instance runs (an exec probe) has the env, and no value on a command line
        // that any user of the machine can read.
        let done = false;
        const running = instance
          .exec({ shell: false, argv: ['sh', '-c', 'sleep 0.5; test -n "$SECRET"'] }, { timeoutMs: 5000 })
          .finally(() => {
            done = true;
          });
        const seen = new Set<string>();
        while (!done) {
          for (const line of commandLines()) if (line.includes(secret)) seen.add(line);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect((await running).code).toBe(0);
        expect([...seen]).toEqual([]);
      } finally {
        delete process.env.SAME_AS_MSUP;
      }
    });

    it('turns a launch that cannot run into an early exit or a rejection, never a hang', {
      timeout: 60_000,
    }, async () => {
      const svc = service({ command: ['/does/not/exist'] });
      await runtime.prepare?.(svc).catch(() => {});
      const outcome = await within(
        runtime
          .start({ service: svc, index: 0, instances: 1, env: { MSUP_TEST_TAG: tag } }, () => {})
          .then(
            async (instance) => {
              launched.push(instance);
              const exit = await instance.exited;
              return exit.error ?? `exit ${exit.code}`;
            },
            (error: Error) => error.message,
          ),
        startMs,
        'a failed launch',
      );
      expect(outcome).toMatch(/\S/);
      expect(outcome).not.toBe('exit 0');
    });

    it('reaps what a crashed run left, from the state file alone', { timeout: 60_000 }, async () => {
      const instance = await start(service({}, { BEHAVE: 'ignore-term' }));
      expect(await waitFor(() => served(instance), startMs)).toBe(true);
      // As if msup had died: only what the state file remembers is known.
      const state = readState(path.join(root, '.msup', 'state.json'));
      const entries = Object.values(state?.entries ?? {}).filter((e) => e.runtime === target.name);
      expect(entries.length).toBeGreaterThan(0);
      const reaped = await plugin.reap(entries, runtimes.host);
      expect(reaped.map((r) => [r.service, r.index])).toEqual(expect.arrayContaining([['web', 0]]));
      if (target.gateway) {
        // The gateway lives in this process (it would have died with msup): its processes must be gone.
        await expectNoTaggedProcesses(tag, 5000);
        return;
      }
      expect(await waitFor(async () => !(await served(instance)), 5000)).toBe(true);
      await within(instance.exited, 8000, 'exit after reap');
    });

    it.skipIf(!target.measuresUsage)(
      'measures the CPU and memory of an instance',
      { timeout: 60_000 },
      async () => {
        const instance = await start(service());
        expect(await waitFor(() => served(instance), startMs)).toBe(true);
        const usage = (await runtime.usage([instance])).get(instance.id);
        expect(usage?.rssBytes).toBeGreaterThan(5_000_000);
        expect(usage?.cpuMs).toBeGreaterThanOrEqual(0);
      },
    );
  });
}
