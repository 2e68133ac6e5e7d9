// The sidecars' golden metrics as Prometheus text: valid for promtool, and counting exactly the
// requests an instance served.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareConfig } from '../../src/config/load.js';
import type { RunningInstance } from '../../src/contract.js';
import { prometheusText } from '../../src/runtime/sidecar/report.js';
import { type SidecarRuntime, sidecarRuntime } from '../../src/runtime/sidecar/runtime.js';
import { Runtimes } from '../../src/runtimes.js';
import { EndpointDirectory } from '../../src/service/directory.js';
import { request } from '../helpers/http.js';
import { expectNoTaggedProcesses, waitFor } from '../helpers/processes.js';
import { node } from '../helpers/project.js';

const hasPromtool = (() => {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('sidecar metrics as Prometheus text', () => {
  const tag = randomUUID();
  let root = '';
  let runtimes: Runtimes;
  let runtime: SidecarRuntime;
  let instance: RunningInstance | undefined;

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'msup-sidecar-metrics-'));
    runtimes = await Runtimes.open(root, () => {}, new EndpointDirectory(), { sidecar: sidecarRuntime() });
    runtime = (await runtimes.get('sidecar')) as SidecarRuntime;
  });

  afterAll(async () => {
    await instance?.stop(2000);
    await runtimes?.close();
    await expectNoTaggedProcesses(tag);
    rmSync(root, { recursive: true, force: true });
  });

  // CI installs prometheus (.ci/run) and never skips this.
  it.skipIf(!hasPromtool && process.env.CI !== 'true')(
    'passes promtool check metrics and counts exactly what was served',
    { timeout: 60_000 },
    async () => {
      const [service] = prepareConfig(
        {
          services: {
            web: {
              command: node('echo-server.js'),
              port: 0,
              runtime: 'sidecar',
              env: { MSUP_TEST_TAG: tag },
            },
          },
        },
        root,
        null,
      ).services;
      const env = {
        ...(process.env as Record<string, string>),
        ...service!.env,
        MSUP_SERVICE: 'web',
        MSUP_INSTANCE: '0',
        MSUP_INSTANCES: '1',
      };
      instance = await runtime.start({ service: service!, index: 0, instances: 1, env }, () => {});
      const url = `http://127.0.0.1:${instance.endpoint?.port}`;
      expect(
        await waitFor(
          async () => (await request(`${url}/health`).catch(() => ({ status: 0 }))).status === 200,
          15_000,
        ),
      ).toBe(true);
      for (let i = 0; i < 7; i++) expect((await request(`${url}/orders/${i}`)).status).toBe(200);
      expect((await request(`${url}/fail?instance=0`)).status).toBe(503);
      const line = (classification: string) =>
        `msup_sidecar_requests_total{service="web",instance="0",direction="inbound",peer="",route="/orders",classification="${classification}"}`;
      // Metrics come about once a second: wait for a snapshot taken after the last request.
      const failed = /route="\/fail",classification="failure"} 1/;
      expect(
        await waitFor(
          () => failed.test(runtime.metricsText()) && runtime.metricsText().includes(`${line('success')} 7`),
          10_000,
        ),
      ).toBe(true);
      const text = runtime.metricsText();
      expect(text).toContain(`${line('failure')} 0`);
      expect(text).toMatch(/route="\/fail",classification="failure"} 1/);
      expect(text).toMatch(/msup_sidecar_request_duration_seconds_count\{[^}]*route="\/orders"} 7/);
      // promtool exits non-zero on any problem (and prints it).
      execFileSync('promtool', ['check', 'metrics'], { input: text });
    },
  );

  it.skipIf(!hasPromtool && process.env.CI !== 'true')(
    "writes the circuit breakers' states and ejections per peer, which promtool accepts",
    () => {
      const member = { consecutiveFailures: 0, since: null, until: null, ejections: 0 };
      const text = prometheusText([
        {
          service: 'web',
          index: 0,
          series: [],
          breakers: [
            {
              peer: 'api',
              ejections: 4,
              members: [
                { ...member, address: '127.0.0.1:1', state: 'open', since: 1, until: 2, ejections: 2 },
                { ...member, address: '127.0.0.1:2', state: 'closed' },
              ],
            },
          ],
        },
      ]);
      const where = 'service="web",instance="0",peer="api"';
      expect(text).toContain(`msup_sidecar_breaker_state{${where},state="closed"} 1\n`);
      expect(text).toContain(`msup_sidecar_breaker_state{${where},state="open"} 1\n`);
      expect(text).toContain(`msup_sidecar_breaker_state{${where},state="half-open"} 0\n`);
      expect(text).toContain(`msup_sidecar_breaker_ejections_total{${where}} 4\n`);
      execFileSync('promtool', ['check', 'metrics'], { input: text });
    },
  );

  it('writes one series per instance, going on across its restarts: the counts of its sidecars, added up', {
    timeout: 60_000,
  }, async () => {
    const [service] = prepareConfig(
      {
        services: {
          api: { command: node('echo-server.js'), port: 0, runtime: 'sidecar', env: { MSUP_TEST_TAG: tag } },
        },
      },
      root,
      null,
    ).services;
    const env = {
      ...(process.env as Record<string, string>),
      ...service!.env,
      MSUP_SERVICE: 'api',
      MSUP_INSTANCE: '0',
      MSUP_INSTANCES: '1',
    };
    const started: RunningInstance[] = [];
    const serve = async (requests: number) => {
      const run = await runtime.start({ service: service!, index: 0, instances: 1, env }, () => {});
      started.push(run);
      const url = `http://127.0.0.1:${run.endpoint?.port}`;
      expect(
        await waitFor(
          async () => (await request(`${url}/health`).catch(() => ({ status: 0 }))).status === 200,
          15_000,
        ),
      ).toBe(true);
      for (let i = 0; i < requests; i++) expect((await request(`${url}/items/${i}`)).status).toBe(200);
      return run;
    };
    const series =
      'msup_sidecar_requests_total{service="api",instance="0",direction="inbound",peer="",route="/items",classification="success"}';
    const samples = () =>
      runtime
        .metricsText()
        .split('\n')
        .filter((line) => line.startsWith(`${series} `));
    /** What the supervisor's /metrics gets of an instance: its families (without service and instance). */
    const counted = (run: RunningInstance) => {
      const family = run.metrics?.().find((f) => f.name === 'msup_sidecar_requests_total');
      const sample = family?.samples.find(
        (x) => x.labels.route === '/items' && x.labels.classification === 'success',
      );
      return sample && 'value' in sample ? sample.value : undefined;
    };
    try {
      const first = await serve(3);
      expect(await waitFor(() => samples().join() === `${series} 3`, 10_000)).toBe(true);
      // The replacement of api#0 starts while the old one still runs (as in a rolling restart): one
      // series, both sidecars' counts.
      const second = await serve(1);
      expect(await waitFor(() => samples().join() === `${series} 4`, 10_000)).toBe(true);
      expect(counted(second)).toBe(4);
      // The old one ends: its counts stay.
      await first.stop(2000);
      expect(samples()).toEqual([`${series} 4`]);
      expect(counted(second)).toBe(4);
      // Two more, and a stop at once (before the next metrics of the second one are due): its last counts
      // come as it stops, and the third sidecar of api#0 goes on from there.
      const url = `http://127.0.0.1:${second.endpoint?.port}`;
      for (let i = 0; i < 2; i++) expect((await request(`${url}/items/${i}`)).status).toBe(200);
      await second.stop(2000);
      const third = await serve(0);
      expect(await waitFor(() => samples().join() === `${series} 6`, 10_000)).toBe(true);
      expect(counted(third)).toBe(6);
    } finally {
      await Promise.all(started.map((run) => run.stop(2000)));
    }
  });
});
