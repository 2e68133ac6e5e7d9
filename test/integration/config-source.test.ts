// start(), compare() and exportConfig() take a config file or a config object: given both, they refuse
// (the file was silently left unused), before anything starts or is written.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compare, exportConfig, isMsupError } from '../../src/index.js';
import { node, useProject } from '../helpers/project.js';

const project = useProject();

describe('configFile and config together', () => {
  it('are refused with MSUP_USAGE by start(), compare() and exportConfig()', async () => {
    const p = project();
    const config = p.config({ web: { command: node('echo-server.js'), port: 0 } });
    const configFile = p.writeConfig({ api: { command: node('echo-server.js'), port: 0 } });
    const sup = p.create({ watch: false, config, configFile });
    const calls: [string, () => Promise<unknown>][] = [
      ['start', () => sup.start()],
      ['compare', () => compare({ cwd: p.root, config, configFile, rounds: 1 })],
      ['export', () => exportConfig({ target: 'compose', cwd: p.root, config, configFile })],
    ];
    for (const [what, call] of calls) {
      const error = await call().catch((e: unknown) => e);
      expect(isMsupError(error, 'MSUP_USAGE'), `${what}: ${String(error)}`).toBe(true);
      expect((error as Error).message).toContain('configFile and config');
    }
    await sup.whenStopped();
    expect(sup.services()).toEqual([]);
    expect(existsSync(path.join(p.root, 'compose.yaml'))).toBe(false);
  });
});
