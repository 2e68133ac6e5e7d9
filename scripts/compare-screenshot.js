// Takes docs/compare-report.png: the HTML report of a real `msup compare` of the demo, in Chromium
// (playwright-core), the whole page. Run it after `npm run build`:
//   node scripts/compare-screenshot.js              runs `msup compare --json` (5 rounds) on the demo first
//   node scripts/compare-screenshot.js result.json  a result kept from an earlier run (version 2 or 3)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { compareReportHtml } from '../dist/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = path.join(root, 'docs', 'compare-report.png');
const [given] = process.argv.slice(2);
const text = given
  ? readFileSync(given, 'utf8')
  : execFileSync(process.execPath, ['bin/msup.js', 'compare', '--json'], {
      cwd: root,
      maxBuffer: 64 << 20,
      stdio: ['ignore', 'pipe', 'inherit'],
    }).toString();
const result = JSON.parse(text);
if (result.version !== 2 && result.version !== 3) {
  throw new Error(`expected a version 2 or 3 result, got version ${result.version}`);
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'msup-compare-shot-'));
let browser;
try {
  const file = path.join(dir, 'report.html');
  writeFileSync(file, compareReportHtml(result));
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  const page = await browser.newPage({ viewport: { width: 1040, height: 900 } });
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector('svg');
  if (errors.length > 0) throw new Error(`the report logged errors:\n${errors.join('\n')}`);
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${path.relative(root, out)} from the run of ${result.startedAt}`);
} finally {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
}
