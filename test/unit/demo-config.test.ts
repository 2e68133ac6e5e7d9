// The demo at the repo root stays a valid config (it is the README's first command).
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { REPO } from '../helpers/project.js';

describe('the demo config', () => {
  it('loads and validates, with a shared front, three services and a dependency', async () => {
    const config = await loadConfigFile({ cwd: REPO });
    expect(config.file).toBe(`${REPO}supervisor.config.ts`);
    expect(config.services.map((s) => [s.name, s.instances, s.port])).toEqual([
      ['web', 3, 8080],
      ['api', 2, 8081],
      ['worker', 1, null],
    ]);
    expect(config.proxy.port).toBe(8000);
    expect(config.services[1]?.dependsOn).toEqual({ web: 'ready' });
  });
});
