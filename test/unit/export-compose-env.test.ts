// The Compose export keeps env files as env_file (their values may be secrets), and names each value that
// Compose would read differently from msup: unquoted and double-quoted values are interpolated there.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readEnvFiles } from '../../src/config/env-file.js';
import { prepareConfig } from '../../src/config/load.js';
import { Warnings } from '../../src/export/common.js';
import { composeInterpolatedKeys } from '../../src/export/compose-env.js';
import { composeEnvWarnings } from '../../src/export/export.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('env files in the Compose export', () => {
  it('names the unquoted and double-quoted values with an interpolation, not the literal ones', () => {
    // biome-ignore-start lint/suspicious/noTemplateCurlyInString: env files, not templates
    const text = [
      'PLAIN=abc',
      'PW=ab$cd',
      'BRACED="x${HOME}y"',
      "SINGLE='ab$cd'",
      'export EXPORTED=$$twice',
      'LONE=costs 5$',
      'DIGIT=$5',
      '# COMMENTED=$x',
      'TICK=`$x`',
    ].join('\n');
    expect(composeInterpolatedKeys(text)).toEqual(['PW', 'BRACED', 'EXPORTED']);
    // msup reads each of them literally: what Compose would change is what the warning names.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msup-compose-env-'));
    dirs.push(dir);
    writeFileSync(path.join(dir, 'a.env'), text);
    const { env } = readEnvFiles(dir, [path.join(dir, 'a.env')]);
    expect(env).toMatchObject({ PW: 'ab$cd', BRACED: 'x${HOME}y', SINGLE: 'ab$cd', EXPORTED: '$$twice' });
  });

  it("warns for the project's .env and each service's env_file, and not for a missing or literal one", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msup-compose-env-'));
    dirs.push(dir);
    writeFileSync(path.join(dir, '.env'), 'TOKEN=a$b\n');
    writeFileSync(path.join(dir, 'api.env'), 'KEY=\'a$b\'\nURL="http://$HOST/"\nDB=${DB_URL}\n');
    writeFileSync(path.join(dir, 'web.env'), "KEY='a$b'\n");
    const config = prepareConfig(
      {
        services: {
          api: { command: 'node api.js', env_file: ['api.env', 'missing.env'] },
          web: { command: 'node web.js', env_file: 'web.env' },
        },
      },
      dir,
      null,
    );
    const warnings = new Warnings();
    composeEnvWarnings(config, warnings);
    expect(warnings.list.map((w) => w.key)).toEqual(['.env', 'services.api.env_file']);
    expect(warnings.list[0]?.message).toContain(
      ': TOKEN would differ there; put that value in single quotes',
    );
    expect(warnings.list[1]?.message).toMatch(/api\.env: Compose interpolates .*: URL, DB would differ/);
    // The values themselves are not in the warning (they may be secrets).
    expect(JSON.stringify(warnings.list)).not.toContain('a$b');
    // biome-ignore-end lint/suspicious/noTemplateCurlyInString: env files, not templates
  });
});
