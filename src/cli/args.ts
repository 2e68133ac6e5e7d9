// The command line: `msup <command> [options]`, checked against the options of that command, with a
// message of msup's own (and the nearest command or option) for every mistake. Pure.
import { parseArgs } from 'node:util';
import { MIN_DURATION_MS, pathProblem } from '../compare/options.js';
import { parseDuration } from '../config/duration.js';
import { nearest } from '../config/nearest.js';
import { RUNTIME_NAMES } from '../config/runtime-names.js';
import { MsupError } from '../errors.js';
import { EXPORT_TARGETS } from '../export/targets.js';
import { MAX_INSTANCES } from '../limits.js';
import type { StreamName } from '../log/tail.js';
import type { RuntimeName } from '../types.js';
import { allOptions, COMMANDS, type Command, DEFAULT_WAIT, type OptionSpec, SPECS } from './commands.js';

export { COMMANDS, type Command, commandHelp, HELP, SPECS, topicHelp } from './commands.js';

export interface CliArgs {
  command: Command;
  /** Positional arguments after the command (service names, `web=5`; for `help`, the command asked about). */
  rest: string[];
  config: string | undefined;
  json: boolean;
  color: boolean | undefined;
  watch: boolean;
  detach: boolean;
  /** `--background`: keep running when the starting process goes away (what --detach runs). */
  background: boolean;
  /** `--wait [DURATION]`: fail unless every instance is ready within it. */
  wait: string | undefined;
  /** `--runtime NAME`: every service on this runtime. */
  runtime: RuntimeName | undefined;
  follow: boolean;
  lines: number;
  /** `logs --err` (stderr) or `--out` (stdout): the records of that stream only (`inStream`). */
  stream: StreamName | undefined;
  /** `logs --timestamp`: each text line starts with its record's time. */
  timestamp: boolean;
  /** `export --out DIR`: where the exported file goes. */
  out: string | undefined;
  /** `compare`'s options, as given (compare() checks them). */
  compare: CompareArgs;
  /** `--admin [HOST:]PORT`, `--no-admin` (false), or neither (undefined: msup start opens one anyway). */
  admin: { host?: string; port: number } | false | undefined;
}

export interface CompareArgs {
  runtimes: string[] | undefined;
  requests: number | undefined;
  concurrency: number | undefined;
  duration: string | undefined;
  rounds: number | undefined;
  maxRounds: number | undefined;
  idle: string | undefined;
  html: string | undefined;
  /** `--path P`: the URL path of the load. */
  path: string | undefined;
}

type Spec = keyof typeof SPECS;

const usage = (message: string, help = 'msup --help') =>
  new MsupError('MSUP_USAGE', `${message} (see ${help})`);

const flag = (o: OptionSpec) => `--${o.name}`;
const spelled = (token: { rawName: string }) => token.rawName;

/** Options written apart from their value (`-c PATH`): the next word is the value, not the command. */
const TAKES_VALUE = new Set(
  allOptions()
    .filter((o) => o.value !== undefined && !o.optionalValue)
    .flatMap((o) => [`--${o.name}`, ...(o.short ? [`-${o.short}`] : [])]),
);

/** The command `word`'s option written `option` (`--out`, `-n`), if `word` is a command that has one. */
function optionOf(word: string | undefined, option: string): OptionSpec | undefined {
  if (word === undefined || !(word in SPECS)) return undefined;
  return SPECS[word as Spec].options.find(
    (o) => option === `--${o.name}` || (o.short !== undefined && option === `-${o.short}`),
  );
}

/**
 * Whether the word after `option` (at `i`) is a command that has `option` as a flag (`--out` of `logs`),
 * although another command's option of that name takes a value (export's `--out FILE`): not when a later
 * word is a command that takes `option` with a value (`--out logs export compose`: logs is export's folder).
 */
function commandAfter(argv: readonly string[], i: number, option: string): boolean {
  const flag = optionOf(argv[i + 1], option);
  if (flag === undefined || flag.value !== undefined) return false;
  const end = argv.indexOf('--');
  const later = argv.slice(i + 2, end === -1 ? undefined : end);
  return !later.some((w) => optionOf(w, option)?.value !== undefined);
}

/** The command: the first word that is not an option or an option's value (`msup -c x.ts status`). */
function findCommand(argv: readonly string[]): { command: Command; index: number } | undefined {
  let index = -1;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') break;
    if (TAKES_VALUE.has(arg) && !commandAfter(argv, i, arg)) i++;
    else if (!arg.startsWith('-')) {
      index = i;
      break;
    }
  }
  if (index === -1) return undefined;
  const word = argv[index] as string;
  if ((COMMANDS as readonly string[]).includes(word)) return { command: word as Command, index };
  const near = nearest(word, COMMANDS);
  throw usage(`unknown command "${word}"${near ? `; did you mean "${near}"?` : ''}`);
}

/** The next word is another option, not this one's value; a negative number (`-n -1`) is a (bad) value. */
const looksLikeOption = (word: string) => word.startsWith('-') && !/^-\d/.test(word);

/** `--wait` takes the next word as its value only when that word is one (not another option). */
function withWaitValues(argv: readonly string[]): string[] {
  return argv.map((a, i) => {
    const next = argv[i + 1];
    return a === '--wait' && (next === undefined || next.startsWith('-')) ? `--wait=${DEFAULT_WAIT}` : a;
  });
}

/** A duration for --wait-timeout: as everywhere in msup, or a bare number of seconds (docker compose). */
function waitTimeout(value: string): string {
  return /^\d+(\.\d+)?$/.test(value) ? `${value}s` : value;
}

/** The options of msup itself, allowed with no command and with `help` and `version`. */
const GLOBAL_OPTIONS = new Set(['--help', '-h', '--version', '-v']);

export function parseCliArgs(argv: readonly string[]): CliArgs {
  const found = findCommand(argv);
  const wantsHelp = argv.some((a) => a === '--help' || a === '-h');
  if (!found) {
    // Options with no command (`msup -c x.ts`, `msup --jsn`) are a mistake, not a request for help.
    const other = argv.find((a) => !GLOBAL_OPTIONS.has(a));
    if (other !== undefined) {
      throw usage(`missing command; expected one of ${COMMANDS.join(', ')}, got "${argv.join(' ')}"`);
    }
    if (argv.includes('--version') || argv.includes('-v')) return defaults('version', []);
    return defaults('help', []);
  }
  const command = found.command;
  // `msup version --help` asks for that command's help, as `msup start --help` does (it printed the version).
  if (command === 'version' && wantsHelp) return defaults('help', ['version']);
  if (command === 'help' || command === 'version') {
    const rest = argv.filter((a, i) => i !== found.index && !GLOBAL_OPTIONS.has(a));
    const option = rest.find((a) => a.startsWith('-'));
    if (option !== undefined) throw usage(`unknown option "${option}" for msup ${command}`);
    const max = command === 'help' ? 1 : 0;
    if (rest.length > max) throw usage(`unexpected argument "${rest[max]}"`);
    if (command === 'help' && rest[0] !== undefined && !(COMMANDS as readonly string[]).includes(rest[0])) {
      throw usage(`no help for "${rest[0]}": it is not a command`);
    }
    return defaults(command, rest);
  }
  // `msup start --help`: that command's help, whatever else is on the line.
  if (wantsHelp) return defaults('help', [command]);
  return parseCommand(command, withWaitValues(argv));
}

function parseCommand(command: Spec, argv: string[]): CliArgs {
  const spec = SPECS[command];
  const help = `msup ${command} --help`;
  const options = Object.fromEntries(
    spec.options.map((o) => [
      o.name,
      { type: o.value === undefined ? 'boolean' : 'string', ...(o.short ? { short: o.short } : {}) } as const,
    ]),
  );
  const { values, positionals, tokens } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    tokens: true,
    options,
  });
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const known = spec.options.find((o) => o.name === token.name);
    if (!known) throw unknownOption(command, spelled(token), help);
    if (known.value === undefined && token.value !== undefined) {
      throw usage(`${flag(known)} takes no value, got "${token.value}"`, help);
    }
    if (
      known.value !== undefined &&
      (token.value === undefined || (!token.inlineValue && looksLikeOption(token.value)))
    ) {
      throw usage(`${flag(known)} needs a value: ${flag(known)} ${known.value}`, help);
    }
  }
  const [, ...rest] = positionals;
  const maxRest = {
    start: 0,
    status: 0,
    stop: 0,
    logs: 1,
    restart: 1,
    scale: Infinity,
    export: 1,
    compare: 0,
  }[command];
  if (rest.length > maxRest) throw usage(`unexpected argument "${rest[maxRest]}"`, help);
  if (command === 'scale' && rest.length === 0) throw usage('scale needs at least one SERVICE=COUNT', help);
  if (command === 'export' && !(EXPORT_TARGETS as readonly string[]).includes(rest[0] ?? '')) {
    const got = rest[0] === undefined ? '' : `, got "${rest[0]}"`;
    throw usage(`export needs a target: ${EXPORT_TARGETS.map((t) => `"${t}"`).join(', ')}${got}`, help);
  }
  const text = (name: string) => values[name] as string | undefined;
  const on = (name: string) => values[name] === true;
  const lines = text('lines') === undefined ? 50 : Number(text('lines'));
  if (!Number.isInteger(lines) || lines < 0) {
    throw usage(`--lines: expected a whole number, got "${text('lines')}"`, help);
  }
  const timeout = text('wait-timeout');
  const wait = timeout !== undefined ? waitTimeout(timeout) : text('wait');
  const waitMs = wait === undefined ? undefined : parseDuration(wait);
  if (wait !== undefined && (waitMs === undefined || waitMs === 0)) {
    // 0 is no time to get ready in: it could only ever fail.
    const option = timeout !== undefined ? '--wait-timeout' : '--wait';
    const kind = waitMs === 0 ? 'a duration longer than 0' : 'a duration';
    throw usage(`${option}: expected ${kind} such as '30s' or '2m', got "${timeout ?? wait}"`, help);
  }
  const runtime = text('runtime');
  if (runtime !== undefined && !(RUNTIME_NAMES as readonly string[]).includes(runtime)) {
    const near = nearest(runtime, RUNTIME_NAMES);
    throw usage(
      `--runtime: expected ${RUNTIME_NAMES.join(', ')}, got "${runtime}"${near ? `; did you mean "${near}"?` : ''}`,
      help,
    );
  }
  if (text('admin') !== undefined && on('no-admin')) throw usage('--admin and --no-admin together', help);
  // `msup logs --out` is a flag (stdout only); `msup export --out DIR` a folder.
  const logsStream =
    command === 'logs' ? (on('err') ? 'stderr' : on('out') ? 'stdout' : undefined) : undefined;
  if (command === 'logs' && on('err') && on('out')) {
    throw usage('--err and --out together: each shows one stream only; leave both out for both', help);
  }
  const admin =
    text('admin') === undefined
      ? on('no-admin')
        ? false
        : undefined
      : adminAddress(text('admin') as string, help);
  return {
    ...defaults(command, rest),
    admin,
    runtime: runtime as RuntimeName | undefined,
    config: text('config'),
    json: on('json'),
    color: on('no-color') ? false : undefined,
    watch: !on('no-watch'),
    detach: on('detach'),
    background: on('background'),
    wait,
    follow: on('follow'),
    lines,
    stream: logsStream,
    timestamp: on('timestamp'),
    out: command === 'export' ? text('out') : undefined,
    compare: compareArgs(text, help),
  };
}

/** A whole number of at least 1, or a usage error naming the option. */
function count(name: string, value: string | undefined, help: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1)
    throw usage(`--${name}: expected a whole number of at least 1, got "${value}"`, help);
  return n;
}

/** A duration, or a bare number of seconds (`--duration 20`), of at least `minMs`. */
function seconds(name: string, value: string | undefined, help: string, minMs = 0): string | undefined {
  if (value === undefined) return undefined;
  const d = /^\d+(\.\d+)?$/.test(value) ? `${value}s` : value;
  const parsed = parseDuration(d);
  if (parsed === undefined)
    throw usage(`--${name}: expected seconds or a duration such as '20s', got "${value}"`, help);
  if (parsed < minMs) throw usage(`--${name}: expected at least ${minMs / 1000}s, got "${value}"`, help);
  return d;
}

/** `--path P`: a URL path such as `/api/items?limit=5`. */
function urlPath(value: string | undefined, help: string): string | undefined {
  if (value === undefined) return undefined;
  const problem = pathProblem(value);
  if (problem !== null) throw usage(`--path: ${problem}, got ${JSON.stringify(value)}`, help);
  return value;
}

function compareArgs(text: (name: string) => string | undefined, help: string): CompareArgs {
  const list = text('runtimes');
  const runtimes = list
    ?.split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  for (const r of runtimes ?? []) {
    if (!(RUNTIME_NAMES as readonly string[]).includes(r)) {
      const near = nearest(r, RUNTIME_NAMES);
      throw usage(
        `--runtimes: expected some of ${RUNTIME_NAMES.join(', ')}, got "${r}"${near ? `; did you mean "${near}"?` : ''}`,
        help,
      );
    }
  }
  return {
    runtimes,
    requests: count('requests', text('requests'), help),
    concurrency: count('concurrency', text('concurrency'), help),
    duration: seconds('duration', text('duration'), help, MIN_DURATION_MS),
    rounds: count('rounds', text('rounds'), help),
    maxRounds: count('max-rounds', text('max-rounds'), help),
    idle: seconds('idle', text('idle'), help),
    html: text('html'),
    path: urlPath(text('path'), help),
  };
}

/** `9100`, `127.0.0.1:9100`, `[::1]:9100`, `0.0.0.0:0` → where the admin listener listens. */
export function adminAddress(value: string, help = 'msup start --help'): { host?: string; port: number } {
  const match = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):)?(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    throw usage(
      `--admin: expected [HOST:]PORT such as 9100 or 127.0.0.1:9100 (0: a free port), got "${value}"`,
      help,
    );
  }
  const host = match[1] ?? match[2];
  return host === undefined ? { port } : { host, port };
}

/** `--jsn` → did you mean `--json`; `-f` on status → it belongs to another command. */
function unknownOption(command: Spec, raw: string, help: string): MsupError {
  const own = SPECS[command].options;
  const any = allOptions().find((o) => `--${o.name}` === raw || (o.short && `-${o.short}` === raw));
  if (any) return usage(`msup ${command} has no option "${raw}"`, help);
  const bare = raw.replace(/^-+/, '');
  const near = nearest(
    bare,
    own.map((o) => o.name),
  );
  return usage(
    `unknown option "${raw}" for msup ${command}${near ? `; did you mean "--${near}"?` : ''}`,
    help,
  );
}

function defaults(command: Command, rest: string[]): CliArgs {
  return {
    command,
    rest,
    config: undefined,
    json: false,
    color: undefined,
    watch: true,
    detach: false,
    background: false,
    wait: undefined,
    runtime: undefined,
    follow: false,
    lines: 50,
    stream: undefined,
    timestamp: false,
    out: undefined,
    compare: {
      runtimes: undefined,
      requests: undefined,
      concurrency: undefined,
      duration: undefined,
      rounds: undefined,
      maxRounds: undefined,
      idle: undefined,
      html: undefined,
      path: undefined,
    },
    admin: undefined,
  };
}

/** `web=5 api=1` → { web: 5, api: 1 }. A service named twice is refused: which count was meant is unknown. */
export function parseScale(rest: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  const given = new Map<string, string>();
  for (const item of rest) {
    const match = /^([^=]+)=(\d+)$/.exec(item);
    if (!match) {
      throw usage(
        `scale: expected SERVICE=COUNT with COUNT a whole number, got "${item}"`,
        'msup scale --help',
      );
    }
    const count = Number(match[2]);
    if (count > MAX_INSTANCES) {
      throw usage(`scale: at most ${MAX_INSTANCES} instances, got "${item}"`, 'msup scale --help');
    }
    const name = match[1] as string;
    const before = given.get(name);
    if (before !== undefined) {
      throw usage(
        `scale: "${name}" is given twice (${before} and ${item}); give each service once`,
        'msup scale --help',
      );
    }
    given.set(name, item);
    counts[name] = count;
  }
  return counts;
}
