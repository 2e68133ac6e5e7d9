// `.env` files: a small dotenv-compatible parser (pure) and a cheap synchronous reader, run at every launch.
import { readFileSync } from 'node:fs';
import path from 'node:path';

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', '"': '"', $: '$' };

/** Reads one value starting at `text[start]`; returns it and the index just past it (and past its line). */
function readValue(text: string, start: number): { value: string; end: number } {
  let i = start;
  while (text[i] === ' ' || text[i] === '\t') i++;
  const quote = text[i];
  // Backticks quote as single quotes do, across lines (dotenv 15 and later read them so).
  if (quote === '"' || quote === "'" || quote === '`') {
    let value = '';
    let j = i + 1;
    for (; j < text.length && text[j] !== quote; j++) {
      const c = text[j] as string;
      if (quote === '"' && c === '\\' && j + 1 < text.length) {
        const next = text[j + 1] as string;
        value += ESCAPES[next] ?? `\\${next}`;
        j++;
      } else value += c;
    }
    if (j < text.length) {
      // a closed quote: the rest of the line may only be blanks or a comment
      const lineEnd = text.indexOf('\n', j);
      return { value, end: lineEnd === -1 ? text.length : lineEnd + 1 };
    }
    // an unclosed quote: take the rest of the line literally, as an unquoted value
  }
  const lineEnd = text.indexOf('\n', start);
  const end = lineEnd === -1 ? text.length : lineEnd;
  let raw = text.slice(start, end);
  const comment = raw.search(/(^|[ \t])#/);
  if (comment !== -1) raw = raw.slice(0, comment);
  return { value: raw.trim(), end: lineEnd === -1 ? text.length : lineEnd + 1 };
}

/** A line of a `.env` file that is not an assignment, a comment or blank: 1-based, as written. */
export interface MalformedLine {
  line: number;
  text: string;
}

/**
 * Parses the text of a `.env` file. `KEY=VALUE` per line, optional `export ` prefix, `#` comments
 * (a whole line, or after a blank following an unquoted value), `'single'` quotes taken literally,
 * `"double"` quotes with `\n \r \t \\ \" \$` escapes (both quotes may span lines), empty values.
 * No `${VAR}` interpolation: every value is literal. A key given twice keeps its last value. A bare name
 * (`KEY` alone, which Compose takes from its own environment) sets nothing: msup's environment is every
 * instance's already. Any other line is left out and listed in `malformed` (Compose refuses the file). Pure.
 */
export function parseEnvLines(text: string): { env: Record<string, string>; malformed: MalformedLine[] } {
  const env: Record<string, string> = {};
  const malformed: MalformedLine[] = [];
  const source = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  let i = 0;
  let lineNumber = 1;
  const advance = (to: number) => {
    for (let j = i; j < to; j++) if (source[j] === '\n') lineNumber++;
    i = to;
  };
  while (i < source.length) {
    const lineEnd = source.indexOf('\n', i);
    const line = source.slice(i, lineEnd === -1 ? source.length : lineEnd);
    const eq = line.indexOf('=');
    const key =
      eq === -1
        ? ''
        : line
            .slice(0, eq)
            .trim()
            .replace(/^export[ \t]+/, '');
    if (eq === -1 || !KEY.test(key)) {
      const trimmed = line.trim();
      const bare = trimmed.replace(/^export[ \t]+/, '');
      if (eq !== -1 || !(trimmed === '' || trimmed.startsWith('#') || KEY.test(bare))) {
        malformed.push({ line: lineNumber, text: line });
      }
      advance(lineEnd === -1 ? source.length : lineEnd + 1);
      continue;
    }
    const { value, end } = readValue(source, i + eq + 1);
    env[key] = value;
    advance(end);
  }
  return { env, malformed };
}

/** The variables of a `.env` file's text (parseEnvLines, its malformed lines left out). Pure. */
export function parseEnv(text: string): Record<string, string> {
  return parseEnvLines(text).env;
}

export interface EnvFilesResult {
  /** The merged variables: `<root>/.env` first, then each file in order (a later file wins). */
  env: Record<string, string>;
  /** Given files that could not be read (absolute paths). A missing `<root>/.env` is not listed. */
  missing: string[];
  /** Values left out because no process can be given them (they hold a NUL byte). */
  invalid: { file: string; key: string }[];
  /** Lines that are not `KEY=value`, a comment or blank (parseEnvLines): left out, or their file kept (`kept`). */
  malformed: ({ file: string } & MalformedLine)[];
  /** Files with malformed lines whose last read without any (from `lastGood`) was used instead of this one. */
  kept: string[];
}

/** Each file's variables as last read without a malformed line, by absolute path: the caller owns it. */
export type EnvFileReads = Map<string, Record<string, string>>;

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Reads `<root>/.env` when it exists, then each of `files` (relative to `root`, or absolute), later
 * values winning. Synchronous and uncached, so that each launch sees the files as they are now.
 * With `lastGood`, a file read whole is remembered there, and a file that now has a malformed line gives
 * its remembered variables instead (listed in `kept`): an edit that broke a line, read at a restart, then
 * loses no variable the instance ran with, as a config reload that fails keeps the running config. A
 * file with no earlier whole read gives its other lines.
 */
export function readEnvFiles(
  root: string,
  files: readonly string[],
  lastGood?: EnvFileReads,
): EnvFilesResult {
  const env: Record<string, string> = {};
  const missing: string[] = [];
  const invalid: EnvFilesResult['invalid'] = [];
  const malformed: EnvFilesResult['malformed'] = [];
  const kept: string[] = [];
  const take = (file: string, text: string) => {
    const parsed = parseEnvLines(text);
    for (const bad of parsed.malformed) malformed.push({ file, ...bad });
    let variables = parsed.env;
    const before = lastGood?.get(file);
    if (parsed.malformed.length === 0) lastGood?.set(file, parsed.env);
    else if (before) {
      variables = before;
      kept.push(file);
    }
    for (const [key, value] of Object.entries(variables)) {
      if (value.includes('\0')) invalid.push({ file, key });
      else env[key] = value;
    }
  };
  const base = path.join(root, '.env');
  const baseText = readText(base);
  if (baseText !== undefined) take(base, baseText);
  for (const file of files) {
    const absolute = path.resolve(root, file);
    const text = readText(absolute);
    if (text === undefined) missing.push(absolute);
    else take(absolute, text);
  }
  return { env, missing, invalid, malformed, kept };
}
