// The defaults that docs/api.md (compare()'s options) and docs/cli.md (msup compare's flags) state are the
// ones the code uses: docs/api.md said one round for months after the default became five.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMPARE_DEFAULTS } from '../../src/compare/compare.js';
import { REPO } from '../helpers/project.js';

/** `| `name` | `default` | …` rows of the tables under `heading` (up to the next section). */
function defaultsTable(page: string, heading: string): Map<string, string> {
  const text = readFileSync(path.join(REPO, 'docs', page), 'utf8');
  const from = text.indexOf(heading);
  if (from < 0) throw new Error(`docs/${page} has no "${heading}"`);
  const end = text.indexOf('\n## ', from + heading.length);
  const section = text.slice(from, end < 0 ? undefined : end);
  const rows = new Map<string, string>();
  for (const [, name, value] of section.matchAll(/^\| `([^`]+)` \| `([^`]*)` \|/gm)) {
    rows.set(name as string, value as string);
  }
  return rows;
}

const expected = Object.entries(COMPARE_DEFAULTS).map(([key, value]) => [key, String(value)] as const);

describe('the documented defaults of a compare', () => {
  it('docs/api.md: compare() options', () => {
    const table = defaultsTable('api.md', '## `compare()`');
    for (const [key, value] of expected) {
      const shown = table.get(key);
      expect([key, shown?.replace(/^'|'$/g, '')]).toEqual([key, value]);
    }
  });

  it('docs/cli.md: msup compare flags', () => {
    const table = defaultsTable('cli.md', '## `msup compare`');
    // `--max-rounds M` is maxRounds.
    const option = (flag: string) =>
      (flag.replace(/^--/, '').split(' ')[0] as string).replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
    const flags = new Map([...table].map(([flag, value]) => [option(flag), value]));
    for (const [key, value] of expected) {
      if (key === 'startTimeout') continue; // no flag: a compare's start timeout is the API's
      expect([key, flags.get(key)]).toEqual([key, value]);
    }
  });
});
