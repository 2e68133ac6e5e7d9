// The error table in docs/errors.md lists exactly the codes in ERROR_CODES, in order: docs and code cannot drift.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';

const ERRORS_PAGE = new URL('../../docs/errors.md', import.meta.url);

/** The lines of the `## Error codes` section: other sections may also have `MSUP_` rows. */
function errorSection(markdown: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => /^## Error codes\s*$/.test(line));
  if (start === -1) return [];
  const end = lines.findIndex((line, i) => i > start && /^## /.test(line));
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

function documentedCodes(markdown: string): string[] {
  const codes: string[] = [];
  for (const line of errorSection(markdown)) {
    const match = /^\|\s*`(MSUP_[A-Z_]+)`/.exec(line);
    if (match) codes.push(match[1] as string);
  }
  return codes;
}

describe('docs/errors.md error table', () => {
  const readme = readFileSync(ERRORS_PAGE, 'utf8');

  it('has a "## Error codes" section with a Code | Meaning table', () => {
    expect(errorSection(readme).some((line) => /^\|\s*Code\s*\|\s*Meaning\s*\|/.test(line))).toBe(true);
  });

  it('lists every code in ERROR_CODES, in the same order', () => {
    expect(documentedCodes(readme)).toEqual(Object.keys(ERROR_CODES));
  });
});
