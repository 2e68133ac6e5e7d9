// What Compose reads differently from msup in an env file. msup takes every value of a `.env` or
// `env_file` literally (config/env-file.ts); Compose interpolates `$VAR`, `${VAR}` (and collapses `$$`) in
// unquoted and double-quoted values of the same file (https://docs.docker.com/compose/how-tos/environment-variables/variable-interpolation/),
// so `PW=ab$cd` is `ab$cd` under msup and `ab` under Compose. Single-quoted values are literal in both. Pure.

const ASSIGNMENT = /^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*=[ \t]*(.*)$/;
/** A `$` that Compose would take as the start of an interpolation (or of `$$`). */
const INTERPOLATION = /\$[{$A-Za-z_]/;

/**
 * The keys of an env file's text whose value Compose would read differently from msup: unquoted or
 * double-quoted, with a `$` that starts an interpolation. A line inside a quoted value that spans lines is
 * read as a line of its own (a rare shape; the answer is a warning, not a change).
 */
export function composeInterpolatedKeys(text: string): string[] {
  const keys: string[] = [];
  for (const line of text.replace(/\r\n?/g, '\n').split('\n')) {
    const m = ASSIGNMENT.exec(line);
    if (!m) continue;
    const [, key, value] = m as unknown as [string, string, string];
    if (value.startsWith("'") || value.startsWith('`')) continue;
    if (INTERPOLATION.test(value) && !keys.includes(key)) keys.push(key);
  }
  return keys;
}
