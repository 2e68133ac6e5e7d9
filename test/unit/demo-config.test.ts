// The demo at the repo root stays a valid config (it is the README's first command).
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { REPO } from '../helpers/project.js';

describe('the demo config', () => {
  it('loads and validates, with a shared front, three services, a function and a dependency', async () => {
    const config = await loadConfigFile({ cwd: REPO });
    expect(config.file).toBe(`${REPO}supervisor.config.ts`);
    expect(config.services.map((s) => [s.name, s.instances, s.port])).toEqual([
      ['web', 3, 8080],
      ['api', 2, 8081],
      ['hello', 1, null],
      ['worker', 1, null],
    ]);
    expect(config.services.map((s) => s.runtime)).toEqual(['process', 'process', 'function', 'process']);
    expect(config.proxy.port).toBe(8000);
    expect(config.services[1]?.dependsOn).toEqual({ web: 'ready' });
  });

  it('runs its HTTP services as functions with --runtime function; the worker stays a process', async () => {
    const config = await loadConfigFile({ cwd: REPO, runtime: 'function' });
    expect(config.services.map((s) => [s.name, s.runtime])).toEqual([
      ['web', 'function'],
      ['api', 'function'],
      ['hello', 'function'],
      ['worker', 'process'],
    ]);
  });
});
