// docs/api.md's StartOptions table names every option StartOptions has (it lacked `runtime`).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/project.js';

/** The fields of `export interface NAME { ... }` in src/types.ts, by their two-space indent. */
function fields(name: string): string[] {
  const source = readFileSync(path.join(REPO, 'src', 'types.ts'), 'utf8');
  const start = source.indexOf(`export interface ${name} {`);
  const body = source.slice(start, source.indexOf('\n}', start));
  return [...body.matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1] as string);
}

/** The first column of the table under `## \`heading\``. */
function tableNames(heading: string): string[] {
  const page = readFileSync(path.join(REPO, 'docs', 'api.md'), 'utf8');
  const section = page.slice(page.indexOf(`## \`${heading}\``));
  const table = section.slice(section.indexOf('\n|'), section.indexOf('\n\n', section.indexOf('\n|')));
  return [...table.matchAll(/^\| `(\w+)`/gm)].map((m) => m[1] as string);
}

describe('docs/api.md', () => {
  it('the StartOptions table lists every field of StartOptions', () => {
    const names = fields('StartOptions');
    expect(names.length).toBeGreaterThan(5);
    const documented = tableNames('StartOptions');
    expect(names.filter((n) => !documented.includes(n))).toEqual([]);
  });
});
