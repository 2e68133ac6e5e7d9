// A TypeScript config as `msup` loads it from the build: in the bundled worker, importing msup's
// config values from 'msupervisor', compiled once into a private cache (.msup/cache/jiti) that a changed
// config does not reuse (one file per config, replaced when it changes), and loaded without the cache where msup cannot keep one.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useProject } from '../helpers/project.js';

const newProject = useProject();

/** A config that is invalid by a number computed with msup's own parseDuration: its error proves it ran. */
const config = (duration: string) => `import { defineConfig, ERROR_CODES, parseDuration } from 'msupervisor';
if (!('MSUP_CONFIG_INVALID' in ERROR_CODES)) throw new Error('ERROR_CODES is missing');
export default defineConfig({ services: { web: { command: 'node x.js', instances: parseDuration('${duration}') } } });
`;

async function problem(project: ReturnType<typeof newProject>): Promise<string> {
  const cli = runCli(project, ['start', '--no-color']);
  expect((await cli.exited).code).toBe(2);
  return cli.stderr();
}

describe('a TypeScript config, loaded by msup', () => {
  it('gets defineConfig, parseDuration and ERROR_CODES from msupervisor, compiled into a private cache', async () => {
    const project = newProject();
    project.write('supervisor.config.ts', config('2s'));
    expect(await problem(project)).toMatch(
      /services\.web\.instances: expected at most 1000 instances, got 2000/,
    );
    const cache = path.join(project.root, '.msup', 'cache', 'jiti');
    expect(statSync(cache).mode & 0o777).toBe(0o700);
    expect(statSync(path.dirname(cache)).mode & 0o777).toBe(0o700);
    const compiled = readdirSync(cache);
    expect(compiled).toHaveLength(1);
    expect(compiled[0]).toMatch(/supervisor\.config\.[0-9a-f]+\.mjs$/);

    // The same config again: the cached copy serves (nothing new compiled), with the same answer.
    expect(await problem(project)).toMatch(/got 2000 \[MSUP_CONFIG_INVALID\]/);
    expect(readdirSync(cache)).toEqual(compiled);

    // A changed config is compiled again, never answered from the old copy (whose place it takes).
    const before = readFileSync(path.join(cache, compiled[0] as string), 'utf8');
    project.write('supervisor.config.ts', config('3s'));
    expect(await problem(project)).toMatch(/got 3000 \[MSUP_CONFIG_INVALID\]/);
    expect(readdirSync(cache)).toEqual(compiled);
    expect(readFileSync(path.join(cache, compiled[0] as string), 'utf8')).not.toBe(before);
  });

  it('loads without a cache where .msup cannot be a private folder', async () => {
    const project = newProject();
    project.write('.msup', 'not a folder\n');
    project.write('supervisor.config.ts', config('4s'));
    expect(await problem(project)).toMatch(/got 4000 \[MSUP_CONFIG_INVALID\]/);
  });
});
