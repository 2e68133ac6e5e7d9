// An engine that does not answer (hung, or waiting on a lock another of its commands holds): the start
// fails within a bounded time with MSUP_IMAGE_FAILED saying so, instead of hanging without a word; a stop
// meanwhile ends it at once.
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { prepareConfig } from '../../src/config/load.js';
import { isMsupError } from '../../src/errors.js';
import type { Engine } from '../../src/runtime/container/engine.js';
import { ensureImage } from '../../src/runtime/container/image.js';
import type { ResolvedService, ServiceConfig } from '../../src/types.js';
import { waitFor } from '../helpers/processes.js';

const folders: string[] = [];
afterEach(() => {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function setUp(): { root: string; engine: Engine } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'msup-hung-'));
  folders.push(root);
  writeFileSync(path.join(root, 'main.js'), '');
  const bin = path.join(root, 'hung-engine');
  // Says it was asked (a file beside it), then hangs.
  writeFileSync(bin, '#!/bin/sh\ntouch "$0.asked"\nexec sleep 30\n');
  chmodSync(bin, 0o755);
  return { root, engine: { name: 'podman', bin, version: '4.3.1', commandTimeoutMs: 300 } };
}

const service = (root: string, config: ServiceConfig) =>
  prepareConfig({ services: { web: config } }, root, null).services[0] as ResolvedService;

describe('a hung engine', { timeout: 20_000 }, () => {
  it.each([
    ['container.image', { command: 'node main.js', container: { image: 'localhost/app:1' } }],
    ['a built image', { command: 'node main.js' }],
  ] as const)('with %s: MSUP_IMAGE_FAILED once a command passes its time', async (_, config) => {
    const { root, engine } = setUp();
    const began = Date.now();
    const error = await ensureImage(engine, service(root, config), root).catch((e: unknown) => e);
    expect(isMsupError(error, 'MSUP_IMAGE_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(/"podman image inspect" did not answer within 0\.3 s/);
    expect(Date.now() - began).toBeLessThan(10_000);
  });

  it.each([
    ['container.image', { command: 'node main.js', container: { image: 'localhost/app:1' } }],
    ['a built image', { command: 'node main.js' }],
  ] as const)(
    "with %s: a stop ends the wait (MSUP_STOPPED), not the engine command's 60 s",
    async (_, config) => {
      const { root, engine: hung } = setUp();
      const engine = { ...hung, commandTimeoutMs: 60_000 };
      const stop = new AbortController();
      const made = ensureImage(engine, service(root, config), root, () => {}, stop.signal).catch(
        (e: unknown) => e,
      );
      expect(await waitFor(() => existsSync(`${engine.bin}.asked`), 10_000)).toBe(true);
      stop.abort();
      expect(await made).toMatchObject({ code: 'MSUP_STOPPED' });
    },
  );
});
