// A closed container runtime starts nothing: no podman API service may be started after close(), since
// one started then would outlive msup (the crash guard has already let go of everything).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareConfig } from '../../src/config/load.js';
import { containerRuntime } from '../../src/runtime/container/runtime.js';
import { Runtimes } from '../../src/runtimes.js';
import { EndpointDirectory } from '../../src/service/directory.js';
import { podmanMissing } from '../helpers/engines.js';

const reason = podmanMissing();
if (reason) console.log(`skipping the closed container runtime test: ${reason}`);

describe.skipIf(reason !== undefined)('a closed container runtime', () => {
  it('refuses to prepare or start with MSUP_STOPPED instead of starting an API service', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'msup-container-closed-'));
    try {
      const runtimes = await Runtimes.open(root, () => {}, new EndpointDirectory(), {
        container: containerRuntime,
      });
      const runtime = await runtimes.get('container');
      const config = prepareConfig(
        { services: { web: { command: ['node', '-e', '0'], port: 0, runtime: 'container' } } },
        root,
        null,
      );
      const service = config.services[0];
      if (!service) throw new Error('no service');
      await runtimes.close();
      await expect(runtime.prepare?.(service)).rejects.toMatchObject({ code: 'MSUP_STOPPED' });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);
});
