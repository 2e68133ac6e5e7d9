// A real Prometheus (Debian's prometheus package) scrapes msup's /metrics, and its query API answers a
// request counter equal to the number of requests sent through msup's proxy.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

describe('Prometheus scraping msup', () => {
  it.skipIf(PROMETHEUS.skip)(
    'queries back a request counter equal to the requests sent',
    { timeout: 120_000 },
    async () => {
      const p = project();
      const sup = await p.start({
        config: p.config({ web: { command: node('echo-server.js'), instances: 2, port: 0 } }),
        admin: true,
      });
      const sent = 25;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
      const statuses = await Promise.all(
        Array.from({ length: sent }, async () => (await request(sup.url('web') as string, { agent })).status),
      );
      agent.destroy();
      expect(statuses).toEqual(statuses.map(() => 200));

      const target = new URL(sup.adminUrl() as string).host;
      const dir = mkdtempSync(path.join(os.tmpdir(), 'msup-prometheus-'));
      const config = path.join(dir, 'prometheus.yml');
      writeFileSync(
        config,
        [
          'global:',
          '  scrape_interval: 1s',
          '  scrape_timeout: 1s',
          'scrape_configs:',
          '  - job_name: msup',
          `    static_configs: [{ targets: ['${target}'] }]`,
          '',
        ].join('\n'),
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

      const query = async (promql: string): Promise<number | undefined> => {
        try {
          const reply = await request(
            `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(promql)}`,
          );
          const body = JSON.parse(reply.body) as { data?: { result?: { value: [number, string] }[] } };
          const value = body.data?.result?.[0]?.value[1];
          return value === undefined ? undefined : Number(value);
        } catch {
          return undefined; // not listening yet
        }
      };
      const counter = 'sum(msup_http_responses_total{job="msup",service="web",code="2xx"})';
      let seen: number | undefined;
      const scraped = await waitFor(
        async () => {
          seen = await query(counter);
          return seen !== undefined;
        },
        60_000,
        250,
      );
      expect(scraped, `Prometheus never scraped msup; its stderr:\n${stderr}`).toBe(true);
      expect(seen).toBe(sent);
      expect(await query('up{job="msup"}')).toBe(1);
      expect(await query('sum(msup_instance_ready{job="msup",service="web"})')).toBe(2);
    },
  );
});
