// Real Chromium for tests (Debian's /usr/bin/chromium driven by playwright-core, the only file that imports
// it): skipped with the reason where there is none locally, never in CI (CI=true fails instead).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.MSUP_CHROMIUM ?? '/usr/bin/chromium';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** `{ skip }` with the reason when Chromium is missing here; in CI a missing Chromium throws. */
export function needsChromium(): { skip?: string } {
  if (existsSync(CHROMIUM)) return {};
  const reason = `Chromium is not installed at ${CHROMIUM}, so this browser test is skipped`;
  if (process.env.CI) throw new Error(`CI must run the browser tests: ${reason}`);
  console.warn(reason);
  return { skip: reason };
}

export interface OpenedPage {
  page: Page;
  /** Every console error and uncaught page error, as text. */
  errors: string[];
  /** Requests the page made to anything but its own file (a self-contained page makes none). */
  requests: string[];
  close(): Promise<void>;
}

/** Opens a URL in a fresh Chromium profile (its own user-data-dir, removed at close). */
export async function openPage(url: string, viewport = { width: 1100, height: 900 }): Promise<OpenedPage> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'msup-chromium-'));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport,
    });
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => {
    if (r.url() !== url) requests.push(r.url());
  });
  await page.goto(url, { waitUntil: 'load' });
  const opened = context;
  return {
    page,
    errors,
    requests,
    async close() {
      await opened.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
