// The command line as people type it: a bare --wait (docker compose's `up --wait`), per-command help, and
// msup's own messages for mistakes, with the nearest command or option.
import { describe, expect, it } from 'vitest';
import { commandHelp, HELP, parseCliArgs, SPECS, topicHelp } from '../../src/cli/args.js';
import { MsupError } from '../../src/errors.js';

function usageError(argv: string[]): string {
  try {
    parseCliArgs(argv);
  } catch (error) {
    if (error instanceof MsupError && error.code === 'MSUP_USAGE') return error.message;
    throw error;
  }
  throw new Error(`${argv.join(' ')} was accepted`);
}

describe('--wait', () => {
  it('takes a duration, or alone means the default 60s', () => {
    expect(parseCliArgs(['start', '--wait', '30s']).wait).toBe('30s');
    expect(parseCliArgs(['start', '--wait=2m']).wait).toBe('2m');
    expect(parseCliArgs(['start', '--detach', '--wait']).wait).toBe('60s');
    expect(parseCliArgs(['start', '--wait', '--json'])).toMatchObject({ wait: '60s', json: true });
    expect(parseCliArgs(['start']).wait).toBeUndefined();
  });

  it('accepts --wait-timeout as docker compose does (a bare number is seconds)', () => {
    expect(parseCliArgs(['start', '--wait', '--wait-timeout', '30']).wait).toBe('30s');
    expect(parseCliArgs(['start', '-d', '--wait-timeout', '2m']).wait).toBe('2m');
    expect(usageError(['start', '--wait', 'soon'])).toBe(
      `--wait: expected a duration such as '30s' or '2m', got "soon" (see msup start --help)`,
    );
    expect(usageError(['start', '--wait-timeout', 'x'])).toMatch(/^--wait-timeout: expected a duration/);
    // No time at all could only ever fail ("not ready after 0ms").
    expect(usageError(['start', '--wait', '0s'])).toBe(
      `--wait: expected a duration longer than 0 such as '30s' or '2m', got "0s" (see msup start --help)`,
    );
    expect(usageError(['start', '-d', '--wait-timeout', '0'])).toMatch(
      /^--wait-timeout: expected a duration longer than 0 .*, got "0"/,
    );
  });
});

describe('mistakes on the command line', () => {
  it('names an unknown option in msup’s words, with the nearest one and no advice about --', () => {
    const message = usageError(['start', '--jsn']);
    expect(message).toBe(
      'unknown option "--jsn" for msup start; did you mean "--json"? (see msup start --help)',
    );
    expect(usageError(['start', '--nope'])).toBe(
      'unknown option "--nope" for msup start (see msup start --help)',
    );
    expect(usageError(['status', '-f'])).toBe('msup status has no option "-f" (see msup status --help)');
    expect(usageError(['start', '--config'])).toBe(
      '--config needs a value: --config PATH (see msup start --help)',
    );
    expect(usageError(['start', '-c', '--json'])).toMatch(/^--config needs a value/);
    expect(usageError(['stop', '--json=yes'])).toBe(
      '--json takes no value, got "yes" (see msup stop --help)',
    );
    for (const argv of [
      ['start', '--jsn'],
      ['start', '--config'],
      ['logs', '-x'],
    ]) {
      const text = usageError(argv);
      expect(text).not.toMatch(/positional|place it at the end/);
      expect((text.match(/"/g) ?? []).length % 2).toBe(0);
      expect((text.match(/'/g) ?? []).length % 2).toBe(0);
    }
  });

  it('suggests the nearest command', () => {
    expect(usageError(['stauts'])).toBe('unknown command "stauts"; did you mean "status"? (see msup --help)');
    expect(usageError(['launch'])).toBe('unknown command "launch" (see msup --help)');
    expect(usageError(['start', 'extra'])).toBe('unexpected argument "extra" (see msup start --help)');
    expect(usageError(['scale'])).toBe('scale needs at least one SERVICE=COUNT (see msup scale --help)');
    expect(usageError(['logs', '-n', 'x'])).toMatch(/^--lines: expected a whole number, got "x"/);
    // A negative number is a bad value, not a missing one.
    expect(usageError(['logs', '-n', '-1'])).toBe(
      '--lines: expected a whole number, got "-1" (see msup logs --help)',
    );
    expect(usageError(['compare', '--rounds', '-2'])).toMatch(
      /^--rounds: expected a whole number of at least 1/,
    );
    expect(usageError(['logs', '-n', '--json'])).toMatch(/^--lines needs a value/);
  });

  it('takes options with no command for a mistake, unless they are --help or --version', () => {
    const commands = 'start, status, logs, restart, scale, stop, export, compare, help, version';
    expect(usageError(['--bogus'])).toBe(
      `missing command; expected one of ${commands}, got "--bogus" (see msup --help)`,
    );
    expect(usageError(['--jsn'])).toMatch(/^missing command; .*, got "--jsn"/);
    expect(usageError(['-c', 'x.ts'])).toMatch(/^missing command; .*, got "-c x.ts"/);
    expect(usageError(['--help', '--json'])).toMatch(/^missing command; /);
    expect(parseCliArgs(['--version', '-h']).command).toBe('version');
    expect(usageError(['version', '--bogus'])).toBe(
      'unknown option "--bogus" for msup version (see msup --help)',
    );
    expect(usageError(['version', 'now'])).toBe('unexpected argument "now" (see msup --help)');
    expect(usageError(['help', '--jsn'])).toBe('unknown option "--jsn" for msup help (see msup --help)');
    expect(usageError(['help', 'start', 'stop'])).toBe('unexpected argument "stop" (see msup --help)');
    expect(parseCliArgs(['version'])).toMatchObject({ command: 'version', rest: [] });
    // Its help, as any command's (it printed the version).
    expect(parseCliArgs(['version', '--help'])).toMatchObject({ command: 'help', rest: ['version'] });
  });

  it('finds the command after options and their values', () => {
    expect(parseCliArgs(['-c', 'x.json', 'status'])).toMatchObject({ command: 'status', config: 'x.json' });
    expect(parseCliArgs(['--json', 'stop'])).toMatchObject({ command: 'stop', json: true });
    expect(parseCliArgs(['logs', 'web', '-fn5'])).toMatchObject({ rest: ['web'], follow: true, lines: 5 });
  });
});

describe('msup logs --err, --out and --timestamp (as pm2 logs)', () => {
  it('takes one stream, -t for --timestamp, and keeps export --out DIR a folder', () => {
    expect(parseCliArgs(['logs', 'web', '--err', '-f'])).toMatchObject({
      rest: ['web'],
      stream: 'stderr',
      follow: true,
      timestamp: false,
    });
    expect(parseCliArgs(['logs', '--out', '-t', '-n', '3'])).toMatchObject({
      rest: [],
      stream: 'stdout',
      timestamp: true,
      lines: 3,
      out: undefined,
    });
    expect(parseCliArgs(['logs', '-ft', '--timestamp'])).toMatchObject({ follow: true, timestamp: true });
    // Before the command: export's --out takes a value, but before `logs` it is that command's flag
    // (it failed with "missing command").
    expect(parseCliArgs(['--out', 'logs', 'web'])).toMatchObject({
      command: 'logs',
      rest: ['web'],
      stream: 'stdout',
      out: undefined,
    });
    expect(parseCliArgs(['--out', 'deploy', 'export', 'compose'])).toMatchObject({
      command: 'export',
      out: 'deploy',
    });
    // A folder named like such a command, given to a later command's --out, is that folder (it ran logs).
    expect(parseCliArgs(['--out', 'logs', 'export', 'compose'])).toMatchObject({
      command: 'export',
      out: 'logs',
    });
    expect(parseCliArgs(['logs'])).toMatchObject({ stream: undefined, timestamp: false });
    expect(parseCliArgs(['export', 'compose', '--out', 'deploy'])).toMatchObject({ out: 'deploy' });
    expect(usageError(['logs', '--err', '--out'])).toBe(
      '--err and --out together: each shows one stream only; leave both out for both (see msup logs --help)',
    );
    expect(usageError(['logs', '--out=x'])).toBe('--out takes no value, got "x" (see msup logs --help)');
    expect(usageError(['logs', '--errr'])).toBe(
      'unknown option "--errr" for msup logs; did you mean "--err"? (see msup logs --help)',
    );
    expect(usageError(['logs', '--timestmp'])).toBe(
      'unknown option "--timestmp" for msup logs; did you mean "--timestamp"? (see msup logs --help)',
    );
    expect(usageError(['status', '--err'])).toBe(
      'msup status has no option "--err" (see msup status --help)',
    );
    expect(usageError(['status', '-t'])).toBe('msup status has no option "-t" (see msup status --help)');
  });

  it('are in msup logs --help and msup help logs', () => {
    const logs = commandHelp('logs');
    expect(topicHelp('logs')).toBe(logs);
    for (const line of logs.split('\n')) expect(line.length, line).toBeLessThanOrEqual(100);
    // Each option on one line, its help's wrapped lines joined.
    const options = logs.replace(/\n {10,}/g, ' ').split('\n');
    const help = (flag: string) =>
      options
        .find((o) => o.startsWith(flag))
        ?.slice(flag.length)
        .trim();
    expect(help('      --err')).toBe(
      "only the services' stderr lines (and, without a service, msup's warn and error events)",
    );
    expect(help('      --out')).toBe("only the services' stdout lines (no msup events)");
    expect(help('  -t, --timestamp')).toBe(
      "each line starts with its record's time, local: YYYY-MM-DD-HH:mm:ss (as pm2 logs --timestamp)",
    );
    expect(help('  -n, --lines N')).toBe(
      'how many recent records (default 50; 0 for none), counted after --err or --out',
    );
  });
});

describe('help', () => {
  it('gives each command its own help, from --help, -h or msup help <command>', () => {
    for (const argv of [
      ['start', '--help'],
      ['start', '-h', '--wait'],
      ['help', 'start'],
    ]) {
      expect(parseCliArgs(argv)).toMatchObject({ command: 'help', rest: ['start'] });
    }
    expect(parseCliArgs([])).toMatchObject({ command: 'help', rest: [] });
    expect(parseCliArgs(['--help'])).toMatchObject({ command: 'help', rest: [] });
    expect(parseCliArgs(['-v']).command).toBe('version');
    expect(usageError(['help', 'strat'])).toBe('no help for "strat": it is not a command (see msup --help)');
    // help and version have a help of their own too.
    expect(parseCliArgs(['help', 'version'])).toMatchObject({ command: 'help', rest: ['version'] });
    expect(topicHelp('version')).toMatch(/^Usage: msup version/);
    expect(topicHelp('help')).toMatch(/^Usage: msup help \[command\]/);
    expect(topicHelp('start')).toBe(commandHelp('start'));

    const start = commandHelp('start');
    expect(start).toMatch(/^Usage: msup start \[options\]\n/);
    expect(start).toMatch(/--wait \[DURATION\]\s+fail \(and stop\)/);
    expect(start).toContain('--wait-timeout DURATION');
    expect(start).not.toContain('--follow');
    const logs = commandHelp('logs');
    expect(logs).toMatch(/-f, --follow/);
    expect(logs).not.toContain('--detach');
    expect(HELP).toContain('msup <command> --help');
    for (const command of ['start', 'status', 'logs', 'restart', 'scale', 'stop']) {
      expect(HELP).toContain(`msup ${command}`);
    }
    // Each usage stands apart from its summary (the export usage ran into it), within 100 columns.
    for (const spec of Object.values(SPECS)) {
      expect(HELP).toMatch(new RegExp(`\\n  ${spec.usage.replace(/[[\].|]/g, '\\$&')}( {2,}|\\n {41})\\S`));
    }
    expect(HELP).toMatch(/\n {2}msup export \S+ \[options\]\n {41}write compose\.yaml/);
    for (const line of HELP.split('\n')) expect(line.length, line).toBeLessThanOrEqual(100);
  });
});

describe('--runtime', () => {
  it('takes a runtime msup has, and names the nearest for a typo', () => {
    expect(parseCliArgs(['start', '--runtime', 'container']).runtime).toBe('container');
    expect(parseCliArgs(['start']).runtime).toBeUndefined();
    expect(usageError(['start', '--runtime', 'containr'])).toMatch(
      /^--runtime: expected process, container.*, got "containr"; did you mean "container"\?/,
    );
    expect(usageError(['status', '--runtime', 'process'])).toMatch(/msup status has no option "--runtime"/);
  });
});
