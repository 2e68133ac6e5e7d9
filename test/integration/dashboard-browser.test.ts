// The dashboard in a real browser (Debian's chromium through playwright-core): it lists the instances, a
// SIGKILLed one comes back with its restart shown, the request chart moves under load, the restart button
// replaces the instances, a page without the token is read-only and another origin cannot act, and the
// page logs no errors.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium as playwright } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { MAX_VIEWERS_WITHOUT_TOKEN } from '../../src/admin/events.js';
import type { LogRecord } from '../../src/index.js';
import { startLoad } from '../helpers/load.js';
import { waitFor } from '../helpers/processes.js';
import { node, useProject } from '../helpers/project.js';
import { chromium } from '../helpers/tools.js';

const project = useProject();
const CHROMIUM = chromium();

/** The page updates about once a second: wait up to 20 s for what it shows (a loaded machine). */
const poll = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 20_000, interval: 100 });

const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A fresh profile (--user-data-dir) each time, removed afterwards; headless. */
async function browser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'msup-chromium-'));
  const context = await playwright.launchPersistentContext(profile, {
    executablePath: CHROMIUM.need(),
    headless: true,
    args: FLAGS,
  });
  let closed: Promise<void> | undefined;
  return {
    context,
    async close() {
      closed ??= context.close();
      await closed;
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

describe('the dashboard in Chromium', () => {
  it.skipIf(CHROMIUM.skip)(
    'shows the instances live, acts with the token only, and logs no errors',
    { timeout: 120_000 },
    async () => {
      const p = project();
      const sup = p.create({
        config: p.config({ web: { command: node('echo-server.js'), instances: 2, port: 0 } }),
        admin: true,
      });
      const logs: LogRecord[] = [];
      sup.on('log', (r) => logs.push(r));
      await sup.start();
      const dashboard = sup.adminUrl() as string;
      const origin = new URL(dashboard).origin;
      const { context, close } = await browser();
      p.onCleanup(close);
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') errors.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
      page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
      await page.goto(dashboard);

      const card = page.locator('article[data-service="web"]');
      const pidOf = (index: number) => card.locator(`tr[data-instance="${index}"] td[data-field="pid"]`);
      // The instances, as the supervisor knows them.
      await poll(() => card.locator('table.instances > tbody > tr').count()).toBe(2);
      const before = sup.instances('web').map((i) => String(i.pid));
      await poll(() => pidOf(0).textContent()).toBe(before[0]);
      await poll(() => pidOf(1).textContent()).toBe(before[1]);
      expect(await page.locator('#mode').textContent()).toBe('control');

      // A SIGKILLed instance: the page shows it restarting (every state it shows is recorded), then its
      // restart and its new process.
      // (A string: this file is typed for Node, without the DOM's types.)
      await page.evaluate(`{
        const seen = (window.seen = []);
        const table = document.querySelector('article[data-service="web"] table.instances');
        new MutationObserver(() => {
          const state = table.querySelector('tr[data-instance="0"] td.state')?.textContent;
          if (state && seen.at(-1) !== state) seen.push(state);
        }).observe(table, { childList: true, subtree: true });
      }`);
      process.kill(Number(before[0]), 'SIGKILL');
      await poll(() => card.locator('tr[data-instance="0"] td[data-field="restarts"]').textContent()).toBe(
        '1',
      );
      await poll(() => card.locator('tr[data-instance="0"]').textContent()).toMatch(/SIGKILL/);
      await poll(async () => {
        const row = await card.locator('tr[data-instance="0"] td.state').textContent();
        return `${row} ${(await pidOf(0).textContent()) !== before[0]}`;
      }).toBe('running true');
      const seen = (await page.evaluate('window.seen')) as string[];
      expect(seen.some((state) => state === 'backoff' || state === 'starting')).toBe(true);
      expect(seen.at(-1)).toBe('running');

      // The request chart moves under load (the points it drew carry a positive rate).
      const load = startLoad(sup.url('web') as string, { clients: 2, maxRequests: 20_000 });
      try {
        await poll(async () => Number(await card.getAttribute('data-rps'))).toBeGreaterThan(0);
      } finally {
        const result = await load.stop();
        expect(result.failed).toEqual([]);
      }
      const points = Number(await card.getAttribute('data-points'));
      await poll(async () => Number(await card.getAttribute('data-points'))).toBeGreaterThan(points);
      expect(await card.locator('.chart canvas').count()).toBe(2);

      // Logs, filtered by service.
      await page.locator('#log-filter').selectOption('web');
      await poll(() => page.locator('#logs > div[data-service="web"]').count()).toBeGreaterThan(0);
      expect(await page.locator('#logs > div:not([data-service="web"])').count()).toBe(0);

      // The restart button: a rolling restart replaces every instance; a double click is one restart (the
      // buttons wait for the answer).
      const pids = sup.instances('web').map((i) => i.pid);
      await card.locator('button[data-action="restart"]').dblclick();
      await poll(() => page.locator('#notice').textContent()).toBe('restart done (web)');
      const replaced = sup.instances('web').map((i) => i.pid);
      expect(replaced.every((pid, i) => pid !== null && pid !== pids[i])).toBe(true);
      await poll(() => pidOf(1).textContent()).toBe(String(replaced[1]));
      expect(logs.filter((r) => r.msg === 'admin action: restart')).toHaveLength(1);

      // An empty count is refused in the page (it read as 0: every instance stopped), and the box follows a
      // scale made elsewhere.
      const count = card.locator('input[data-role="count"]');
      await count.fill('');
      await card.locator('button[data-action="scale"]').click();
      await poll(() => page.locator('#notice').textContent()).toBe(
        'scale: enter a number of instances for web',
      );
      expect(sup.instances('web')).toHaveLength(2);
      expect(logs.filter((r) => r.msg === 'admin action: scale')).toHaveLength(0);
      await page.locator('#mode').click();
      await sup.scale('web', 3);
      await poll(() => count.inputValue()).toBe('3');
      await sup.scale('web', 2);
      await poll(() => card.locator('table.instances > tbody > tr').count()).toBe(2);
      await poll(() => count.inputValue()).toBe('2');
      // What was typed stays when the focus leaves the box for a moment (states keep coming meanwhile).
      await count.fill('3');
      await page.locator('#mode').click();
      await page.waitForTimeout(1500);
      expect(await count.inputValue()).toBe('3');
      await card.locator('button[data-action="scale"]').click();
      await poll(() => sup.instances('web').length).toBe(3);
      await sup.scale('web', 2);
      await poll(() => card.locator('table.instances > tbody > tr').count()).toBe(2);

      // A token that is not this msup's (a tab left from an earlier run): read-only, and it says why.
      const stale = await context.newPage();
      stale.on('pageerror', (e) => errors.push(`stale page error: ${e.message}`));
      await stale.goto(`${origin}/#token=not-this-run`);
      await poll(() => stale.locator('#mode').textContent()).toBe('read-only');
      await poll(() =>
        stale.locator('article[data-service="web"] table.instances > tbody > tr').count(),
      ).toBe(2);
      expect(await stale.locator('button[data-action]').count()).toBe(0);
      expect(await stale.locator('#logs-locked').textContent()).toMatch(/not this msup's/);
      await stale.close();

      // Without the token: read-only, no buttons, no log lines.
      const readOnly = await context.newPage();
      readOnly.on('pageerror', (e) => errors.push(`read-only page error: ${e.message}`));
      await readOnly.goto(origin);
      await poll(() => readOnly.locator('#mode').textContent()).toBe('read-only');
      await poll(() =>
        readOnly.locator('article[data-service="web"] table.instances > tbody > tr').count(),
      ).toBe(2);
      expect(await readOnly.locator('button[data-action]').count()).toBe(0);
      expect(await readOnly.locator('#logs-locked').isVisible()).toBe(true);
      expect(await readOnly.locator('#logs > div').count()).toBe(0);
      const anonymous = await readOnly.evaluate(async () => {
        const res = await fetch('/api/restart', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"service":"web"}',
        });
        return res.status;
      });
      expect(anonymous).toBe(403);

      // Another origin in the same browser, even knowing the token, cannot act (CSRF).
      const token = new URLSearchParams(new URL(dashboard).hash.slice(1)).get('token') as string;
      const other = http.createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<!doctype html><title>another site</title>');
      });
      await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
      p.onCleanup(() => new Promise<void>((resolve) => other.close(() => resolve())));
      const evil = await context.newPage();
      await evil.goto(`http://127.0.0.1:${(other.address() as net.AddressInfo).port}/`);
      const refusedBefore = logs.filter((r) => r.msg === 'admin action refused').length;
      await evil.evaluate(
        async ({ url, token }) => {
          await fetch(url, {
            method: 'POST',
            mode: 'no-cors',
            headers: { 'content-type': 'text/plain', 'x-msup-token': token },
            body: '{"service":"web"}',
          }).catch(() => undefined);
        },
        { url: `${origin}/api/restart`, token },
      );
      expect(
        await waitFor(() => logs.filter((r) => r.msg === 'admin action refused').length > refusedBefore),
      ).toBe(true);
      expect(logs.filter((r) => r.msg === 'admin action refused').at(-1)?.reason).toMatch(
        /requests from http/,
      );
      expect(sup.instances('web').map((i) => i.pid)).toEqual(replaced);

      // The dashboard itself logged nothing wrong (CSP, scripts, requests).
      expect(errors).toEqual([]);
      await close();
    },
  );

  it.skipIf(CHROMIUM.skip)(
    'refused its live feed (too many pages without the token), says so and asks again until it is let in',
    { timeout: 120_000 },
    async () => {
      const p = project();
      const sup = await p.start({
        config: p.config({ web: { command: node('echo-server.js'), instances: 1, port: 0 } }),
        admin: true,
      });
      const { origin, host, port } = new URL(sup.adminUrl() as string);
      // Every stream without the token that msup takes, held by another client.
      const sockets: net.Socket[] = [];
      p.onCleanup(async () => {
        for (const s of sockets) s.destroy();
      });
      for (let i = 0; i < MAX_VIEWERS_WITHOUT_TOKEN; i++) {
        await new Promise<void>((resolve, reject) => {
          const s = net.connect(Number(port), '127.0.0.1');
          sockets.push(s);
          s.on('connect', () => s.write(`GET /api/events HTTP/1.1\r\nHost: ${host}\r\n\r\n`));
          s.on('data', (d) => (d.toString('latin1').includes('event: hello') ? resolve() : undefined));
          s.on('error', reject);
        });
      }
      const { context, close } = await browser();
      p.onCleanup(close);
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
      await page.goto(origin);
      const badge = page.locator('#connection');
      // The browser gives up on a stream answered 503 (it showed "reconnecting" for good, and never did).
      await poll(() => badge.textContent()).toBe('refused, retrying');
      expect(await badge.getAttribute('title')).toMatch(/too many dashboard pages/);
      for (const s of sockets) s.destroy();
      await poll(() => badge.textContent()).toBe('live');
      await poll(() => page.locator('article[data-service="web"] table.instances > tbody > tr').count()).toBe(
        1,
      );
      expect(errors).toEqual([]);
      await close();
    },
  );
});
