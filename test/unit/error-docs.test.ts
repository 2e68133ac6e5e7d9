// The error table in docs/errors.md lists exactly the codes in ERROR_CODES, in order, each with what it means
// and where it comes from; and every MSUP_* code written in src/ is one of them: docs and code cannot drift.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';

const ERRORS_PAGE = new URL('../../docs/errors.md', import.meta.url);
const SRC = fileURLToPath(new URL('../../src', import.meta.url));

/**
 * `MSUP_*` names in src/ that are not MsupError codes, each said so in docs/errors.md below the table:
 * variables msup sets for instances (or passes to its own background process), and the proxy's causes of a
 * failed attempt (an Error's `code`, given in words in a 502's body and the logs). A new one fails the test
 * until it is listed here, or is made a code in ERROR_CODES and docs/errors.md.
 */
const NOT_ERROR_CODES = new Set([
  // environment variables
  'MSUP_INSTANCES',
  'MSUP_GUARD',
  'MSUP_API_URL',
  'MSUP_DETACHED_OUT',
  'MSUP_RUNTIME_TOKEN',
  // the proxy's causes of a failed attempt
  'MSUP_ABORTED',
  'MSUP_BODY_TIMEOUT',
  'MSUP_CLIENT_GONE',
  'MSUP_CONNECT_TIMEOUT',
  'MSUP_INVALID_REQUEST',
  'MSUP_INVALID_RESPONSE',
  'MSUP_NOT_FORWARDED',
  'MSUP_RESPONSE_TIMEOUT',
  'MSUP_STALE_CONNECTION',
  'MSUP_STALLED',
  'MSUP_UPSTREAM_CLOSED',
]);

/** The lines of the `## Error codes` section: other sections may also have `MSUP_` rows. */
function errorSection(markdown: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => /^## Error codes\s*$/.test(line));
  if (start === -1) return [];
  const end = lines.findIndex((line, i) => i > start && /^## /.test(line));
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

/** The table's rows: the code, and its other cells (a `|` inside backticks is not a separator). */
function documentedRows(markdown: string): { code: string; cells: string[] }[] {
  const rows: { code: string; cells: string[] }[] = [];
  for (const line of errorSection(markdown)) {
    const match = /^\|\s*`(MSUP_[A-Z_]+)`/.exec(line);
    if (!match) continue;
    const cells = line
      .replace(/`[^`]*`/g, (quoted) => quoted.replace(/\|/g, ' '))
      .split('|')
      .slice(2, -1)
      .map((cell) => cell.trim());
    rows.push({ code: match[1] as string, cells });
  }
  return rows;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every quoted `MSUP_*` name in src/ ('...', "...", `...`), with the files that write it. */
function namesInSource(): Map<string, string[]> {
  const names = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/['"`](MSUP_[A-Z][A-Z0-9_]*)['"`]/g)) {
      const name = match[1] as string;
      const files = names.get(name) ?? [];
      if (!files.includes(path.relative(SRC, file))) files.push(path.relative(SRC, file));
      names.set(name, files);
    }
  }
  return names;
}

describe('docs/errors.md error table', () => {
  const page = readFileSync(ERRORS_PAGE, 'utf8');

  it('has a "## Error codes" section with a Code | Meaning | Where it comes from table', () => {
    expect(
      errorSection(page).some((line) =>
        /^\|\s*Code\s*\|\s*Meaning\s*\|\s*Where it comes from\s*\|/.test(line),
      ),
    ).toBe(true);
  });

  it('lists every code in ERROR_CODES, in the same order, each with its meaning and where it comes from', () => {
    const rows = documentedRows(page);
    expect(rows.map((r) => r.code)).toEqual(Object.keys(ERROR_CODES));
    for (const { code, cells } of rows) {
      expect([code, cells.length, cells.every((cell) => cell !== '')]).toEqual([code, 2, true]);
    }
  });

  it('documents every MSUP_* code that src/ throws, sends or checks', () => {
    const documented = new Set(documentedRows(page).map((r) => r.code));
    const undocumented = [...namesInSource()]
      .filter(([name]) => !documented.has(name) && !NOT_ERROR_CODES.has(name))
      .map(([name, files]) => `${name} (${files.join(', ')})`);
    expect(undocumented).toEqual([]);
  });

  it('lists no code that src/ never uses, and no name as both a code and not one', () => {
    const names = namesInSource();
    const unused = Object.keys(ERROR_CODES).filter((code) =>
      (names.get(code) ?? []).every((file) => file === 'errors.ts'),
    );
    expect(unused).toEqual([]);
    expect(Object.keys(ERROR_CODES).filter((code) => NOT_ERROR_CODES.has(code))).toEqual([]);
    // Each name said not to be a code is still in src/ (a stale list would hide a new code of that name).
    expect([...NOT_ERROR_CODES].filter((name) => !names.has(name))).toEqual([]);
  });
});
