// Takes docs/dashboard.png: runs the demo (supervisor.config.ts) with `msup start`, sends it some traffic,
// SIGKILLs one instance so a restart shows, and screenshots the dashboard in Chromium (playwright-core).
// Run it after `npm run build`, with the demo's ports (8000, 8080, 8081) free: node scripts/dashboard-screenshot.js
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = path.join(root, 'docs', 'dashboard.png');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const msup = spawn(process.execPath, ['bin/msup.js', 'start', '--no-watch', '--no-color'], {
  cwd: root,
  env: { ...process.env, NO_COLOR: '1' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let printed = '';
msup.stdout.on('data', (d) => {
  printed += d;
});
const stopped = new Promise((resolve) => msup.once('exit', resolve));
const profile = mkdtempSync(path.join(os.tmpdir(), 'msup-screenshot-'));
let context;
try {
  let dashboard;
  for (let i = 0; i < 300 && !dashboard; i++) {
    dashboard = /all services ready:[\s\S]*dashboard: (\S+)/.exec(printed)?.[1];
    await sleep(100);
  }
  if (!dashboard) throw new Error(`msup printed no dashboard URL:\n${printed}`);

  // Steady traffic through the shared front: web, api and the function.
  let running = true;
  const paths = ['/', '/api/hello', '/hello', '/call/api/hello', '/missing/page'];
  const load = Array.from({ length: 3 }, async (_, n) => {
    for (let i = n; running; i++) {
      await fetch(`http://127.0.0.1:8000${paths[i % paths.length]}`).catch(() => undefined);
      await sleep(15);
    }
  });

  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 1000 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = await context.newPage();
  await page.goto(dashboard);
  await sleep(6000);
  // A crash, so the table shows a restart and a last exit.
  const status = await page.evaluate(
    () => document.querySelector('tr[data-instance="1"] td[data-field="pid"]')?.textContent,
  );
  if (status && /^\d+$/.test(status)) process.kill(Number(status), 'SIGKILL');
  await page.locator('#log-filter').selectOption('web');
  await sleep(12_000);
  await page.screenshot({ path: out, fullPage: true });
  running = false;
  await Promise.all(load);
  console.log(`wrote ${path.relative(root, out)}`);
} finally {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
  msup.kill('SIGTERM');
  await stopped;
}
