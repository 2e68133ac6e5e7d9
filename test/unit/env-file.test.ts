// .env parsing rules and the merge order of .env and env_file, on a temp folder.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEnv, parseEnvLines, readEnvFiles } from '../../src/config/env-file.js';
import { prepareConfig } from '../../src/config/load.js';
import { validateConfig } from '../../src/config/validate.js';

describe('parseEnv', () => {
  it('reads KEY=VALUE lines, export prefixes, blanks and comments', () => {
    const text = [
      '# a comment',
      '',
      'A=1',
      'export B=two',
      '  C = spaced value  ',
      'D=',
      'E=value # a comment',
      'F=a#b',
      'not an assignment',
      '1BAD=x',
      'G.H-I=dots',
    ].join('\n');
    expect(parseEnv(text)).toEqual({
      A: '1',
      B: 'two',
      C: 'spaced value',
      D: '',
      E: 'value',
      F: 'a#b',
      'G.H-I': 'dots',
    });
  });

  it('takes single quotes literally and expands escapes in double quotes', () => {
    const text = [
      `S='a\\nb # not a comment'`,
      'D="a\\nb\\t\\"c\\" \\\\ \\$x"',
      'Q="quoted" # trailing comment',
      "E=''",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${VAR} stays as it is
      'U=${HOME}/x',
    ].join('\n');
    expect(parseEnv(text)).toEqual({
      S: 'a\\nb # not a comment',
      D: 'a\nb\t"c" \\ $x',
      Q: 'quoted',
      E: '',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: no interpolation
      U: '${HOME}/x',
    });
  });

  it('lets quoted values span lines, handles CRLF and a BOM, and keeps the last of a repeated key', () => {
    const text = '\uFEFFKEY="line 1\r\nline 2"\r\nNEXT=ok\r\nNEXT=again\r\n';
    expect(parseEnv(text)).toEqual({ KEY: 'line 1\nline 2', NEXT: 'again' });
  });

  it('lists the lines that are not assignments, comments or blank, by their line as written', () => {
    const text = [
      '# a comment',
      '',
      'A="two',
      'lines"',
      'export B=1',
      'INHERITED',
      'not an assignment',
      '1BAD=x',
      'C: yaml',
      'D=ok',
    ].join('\r\n');
    expect(parseEnvLines(text)).toEqual({
      env: { A: 'two\nlines', B: '1', D: 'ok' },
      malformed: [
        { line: 7, text: 'not an assignment' },
        { line: 8, text: '1BAD=x' },
        { line: 9, text: 'C: yaml' },
      ],
    });
  });

  it('reads a backtick-quoted value across lines, as dotenv does (its later lines were called malformed)', () => {
    expect(parseEnvLines('KEY=`first\nsecond line\nthird`\nB=2')).toEqual({
      env: { KEY: 'first\nsecond line\nthird', B: '2' },
      malformed: [],
    });
  });

  it('treats an unclosed quote as a plain value on its line', () => {
    expect(parseEnv('A="open\nB=2')).toEqual({ A: '"open', B: '2' });
  });
});

describe('readEnvFiles', () => {
  let root: string | undefined;
  afterEach(() => {
    if (root) rmSync(root, { recursive: true, force: true });
    root = undefined;
  });

  it('reads .env first, then each env_file in order, later files winning; lists missing files', () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'msup-env-'));
    writeFileSync(path.join(root, '.env'), 'A=from-dotenv\nB=from-dotenv\nC=from-dotenv\n');
    writeFileSync(path.join(root, 'one.env'), 'B=from-one\nC=from-one\n');
    writeFileSync(path.join(root, 'two.env'), 'C=from-two\n');
    const result = readEnvFiles(root, ['one.env', path.join(root, 'two.env'), 'absent.env']);
    expect(result.env).toEqual({ A: 'from-dotenv', B: 'from-one', C: 'from-two' });
    expect(result.missing).toEqual([path.join(root, 'absent.env')]);
  });

  it('does not report a missing .env, and re-reads the files on every call', () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'msup-env-'));
    expect(readEnvFiles(root, [])).toEqual({ env: {}, missing: [], invalid: [], malformed: [], kept: [] });
    writeFileSync(path.join(root, '.env'), 'A=1\n');
    expect(readEnvFiles(root, []).env).toEqual({ A: '1' });
    writeFileSync(path.join(root, '.env'), 'A=2\n');
    expect(readEnvFiles(root, []).env).toEqual({ A: '2' });
  });

  it('with lastGood, gives a file with a malformed line as last read without one, or without the line', () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'msup-env-'));
    const dotenv = path.join(root, '.env');
    const other = path.join(root, 'other.env');
    const reads = new Map<string, Record<string, string>>();
    writeFileSync(dotenv, 'A=1\nB=2\n');
    expect(readEnvFiles(root, [], reads)).toMatchObject({ env: { A: '1', B: '2' }, kept: [] });
    writeFileSync(dotenv, 'A=1\nB 3\nC=4\n');
    writeFileSync(other, 'D=5\n6E=x\n');
    expect(readEnvFiles(root, ['other.env'], reads)).toEqual({
      env: { A: '1', B: '2', D: '5' },
      missing: [],
      invalid: [],
      malformed: [
        { file: dotenv, line: 2, text: 'B 3' },
        { file: other, line: 2, text: '6E=x' },
      ],
      kept: [dotenv],
    });
    // Without lastGood (the check at load), the file is read as it is.
    expect(readEnvFiles(root, []).env).toEqual({ A: '1', C: '4' });
    writeFileSync(dotenv, 'A=7\n');
    expect(readEnvFiles(root, [], reads)).toMatchObject({ env: { A: '7' }, kept: [] });
    expect(reads.get(dotenv)).toEqual({ A: '7' });
  });
});

describe('env_file, watch and watchIgnore in the config', () => {
  const root = path.resolve('/project');
  const resolve = (service: Record<string, unknown>) =>
    prepareConfig({ services: { web: { command: 'x', ...service } } }, root, null).services[0]!;
  const problems = (service: Record<string, unknown>) => {
    const result = validateConfig({ services: { web: { command: 'x', ...service } } });
    return result.ok ? [] : result.issues.map((i) => `${i.path}: ${i.message}`);
  };

  it('resolves env_file to absolute paths in order, and watch to paths and ignores', () => {
    expect(resolve({}).envFiles).toEqual([]);
    expect(resolve({}).watch).toBeNull();
    expect(resolve({ env_file: 'a.env' }).envFiles).toEqual([path.join(root, 'a.env')]);
    expect(resolve({ env_file: ['a.env', '/etc/b.env'] }).envFiles).toEqual([
      path.join(root, 'a.env'),
      '/etc/b.env',
    ]);
    expect(resolve({ watch: true }).watch).toEqual({ paths: true, ignored: [] });
    expect(resolve({ watch: false, watchIgnore: ['tmp'] }).watch).toBeNull();
    // kept as given: msup warns of a list that names nothing to watch
    expect(resolve({ watch: [] }).watch).toEqual({ paths: [], ignored: [] });
    expect(resolve({ watch: ['src/**/*.ts'], watchIgnore: ['*.gen.ts'] }).watch).toEqual({
      paths: ['src/**/*.ts'],
      ignored: ['*.gen.ts'],
    });
  });

  it('reports wrong shapes with their paths', () => {
    expect(problems({ env_file: '', watch: 'yes', watchIgnore: 'tmp' })).toEqual([
      'services.web.env_file: expected a file path or an array of file paths, got ""',
      'services.web.watch: expected true, false or an array of paths or globs, got "yes"',
      'services.web.watchIgnore: expected an array of paths or globs, got "tmp"',
    ]);
    expect(problems({ env_file: ['ok', 3], watch: ['src', ''] })).toHaveLength(2);
  });
});
