// A real Prometheus (Debian's prometheus package) scrapes two msups with the scrape config that
// docs/dashboard.md gives, and its query API answers a request counter equal to the number of requests sent
// through msup's proxy, and msup's `instance` label (the index) as msup wrote it.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { node, useProject } from '../helpers/project.js';
import { prometheus } from '../helpers/tools.js';

const project = useProject();
const PROMETHEUS = prometheus();

/** A port the kernel says is free now (Prometheus takes its listen address on the command line). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The scrape config of docs/dashboard.md ("Scraping with Prometheus"), its job scraping `targets` (each
 * with its own `msup` label, as the page's second block shows) once a second; and a second job, as
 * Prometheus is without `honor_labels`, over the same targets.
 */
function docsScrapeConfig(targets: [string, string]): string {
  const page = readFileSync(new URL('../../docs/dashboard.md', import.meta.url), 'utf8');
  const section = page.slice(page.indexOf('### Scraping with Prometheus'));
  const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  const [job, perTarget] = blocks;
  if (!job?.includes('- job_name: msup') || !perTarget?.includes('static_configs:'))
    throw new Error('docs/dashboard.md: the scrape config blocks are not where this test reads them');
  const jobLines = job
    .split('\n')
    .filter((l) => !l.startsWith('#') && l.trim() !== '' && !l.includes('scrape_configs:'))
    .map((l) => l.replace('scrape_interval: 5s', 'scrape_interval: 1s'))
    .filter((l) => !l.trim().startsWith('static_configs:'));
  const targetLines = perTarget
    .trimEnd()
    .split('\n')
    .map((l) => l.replace('host-a:9100', targets[0]).replace('host-b:9100', targets[1]));
  const plain = jobLines
    .filter((l) => !l.includes('honor_labels'))
    .map((l) => l.replace('job_name: msup', 'job_name: msup-plain'));
  return ['scrape_configs:', ...jobLines, ...targetLines, ...plain, ...targetLines, ''].join('\n');
}

describe('Prometheus scraping msup', () => {
  it.skipIf(PROMETHEUS.skip)(
    "queries back a request counter equal to the requests sent, and msup's instance label as msup wrote it",
    { timeout: 120_000 },
    async () => {
      const p = project();
      const sup = await p.start({
        config: p.config({ web: { command: node('echo-server.js'), instances: 2, port: 0 } }),
        admin: true,
      });
      // A second msup (a project folder of its own), with one instance: its series must not meet the first's.
      const other = path.join(p.root, 'other');
      mkdirSync(other);
      const sup2 = await p.start({
        cwd: other,
        config: p.config({ web: { command: node('echo-server.js'), instances: 1, port: 0 } }),
        admin: true,
      });
      const sent = 25;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
      const statuses = await Promise.all(
        Array.from({ length: sent }, async () => (await request(sup.url('web') as string, { agent })).status),
      );
      agent.destroy();
      expect(statuses).toEqual(statuses.map(() => 200));

      const targets: [string, string] = [
        new URL(sup.adminUrl() as string).host,
        new URL(sup2.adminUrl() as string).host,
      ];
      const dir = mkdtempSync(path.join(os.tmpdir(), 'msup-prometheus-'));
      const config = path.join(dir, 'prometheus.yml');
      writeFileSync(
        config,
        ['global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', docsScrapeConfig(targets)].join('\n'),
      );
      const port = await freePort();
      const child = spawn(
        PROMETHEUS.need(),
        [
          `--config.file=${config}`,
          `--storage.tsdb.path=${path.join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${port}`,
          '--log.level=warn',
        ],
        { env: p.env(), stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr?.on('data', (d) => (stderr += d));
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      p.onCleanup(async () => {
        child.kill('SIGTERM');
        await exited;
        rmSync(dir, { recursive: true, force: true });
      });

      type Series = { metric: Record<string, string>; value: [number, string] };
      const queryAll = async (promql: string): Promise<Series[] | undefined> => {
        try {
          const reply = await request(
            `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(promql)}`,
          );
          return (JSON.parse(reply.body) as { data?: { result?: Series[] } }).data?.result;
        } catch {
          return undefined; // not listening yet
        }
      };
      const query = async (promql: string): Promise<number | undefined> => {
        const value = (await queryAll(promql))?.[0]?.value[1];
        return value === undefined ? undefined : Number(value);
      };
      const counter = 'sum(msup_http_responses_total{job="msup",service="web",code="2xx"})';
      // Both msups' instances (2 and 1) in both jobs.
      const ready = 'count(msup_instance_ready{job=~"msup|msup-plain",service="web"})';
      let seen: number | undefined;
      const scraped = await waitFor(
        async () => {
          seen = await query(counter);
          return seen !== undefined && (await query(ready)) === 6;
        },
        60_000,
        250,
      );
      expect(scraped, `Prometheus never scraped both msups in both jobs; its stderr:\n${stderr}`).toBe(true);
      expect(seen).toBe(sent);
      expect(await query('sum(up{job="msup"})')).toBe(2);
      expect(await query('sum(msup_instance_ready{job="msup",service="web"})')).toBe(3);

      // With the docs' honor_labels, msup's instance label arrives as msup wrote it (the index), once per msup.
      const byIndex = await queryAll('msup_instance_ready{job="msup",service="web",instance="0"}');
      expect(byIndex?.map((r) => [r.metric.msup, r.value[1]]).sort()).toEqual([
        ['a', '1'],
        ['b', '1'],
      ]);
      expect(await queryAll('msup_instance_ready{job="msup",exported_instance!=""}')).toEqual([]);
      // A series with no instance of msup's gets the target's.
      const held = await queryAll('msup_held_total{job="msup",service="web"}');
      expect(held?.map((r) => r.metric.instance).sort()).toEqual([...targets].sort());
      // Without it, Prometheus renames msup's label: instance="0" finds nothing (what the docs' example did).
      expect(await queryAll('msup_instance_ready{job="msup-plain",service="web",instance="0"}')).toEqual([]);
      const exported = await queryAll(
        'msup_instance_ready{job="msup-plain",service="web",exported_instance="0"}',
      );
      expect(exported?.map((r) => r.metric.instance).sort()).toEqual([...targets].sort());
    },
  );
});
