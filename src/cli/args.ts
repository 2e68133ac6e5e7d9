// The command line: `msup <command> [options]`. Pure.
import { parseArgs } from 'node:util';
import { MsupError } from '../errors.js';

export const COMMANDS = [
  'start',
  'status',
  'logs',
  'restart',
  'scale',
  'stop',
  'export',
  'help',
  'version',
] as const;
export type Command = (typeof COMMANDS)[number];

export interface CliArgs {
  command: Command;
  /** Positional arguments after the command (service names, `web=5`). */
  rest: string[];
  config: string | undefined;
  json: boolean;
  color: boolean | undefined;
  watch: boolean;
  detach: boolean;
  /** `--wait DURATION`: fail unless every instance is ready within it. */
  wait: string | undefined;
  follow: boolean;
  lines: number;
  /** `export --out DIR`: where the exported file goes. */
  out: string | undefined;
}

export const HELP = `msup: a local multi-process supervisor with a built-in load balancer

Usage:
  msup start [options]        start every service in supervisor.config.* and proxy their front ports
  msup status                 services and instances of the running msup (exit 0 when all are ready)
  msup logs [service]         recent output (-n N lines, -f to follow)
  msup restart [service]      rolling restart: each instance replaced by a ready one, no request dropped
  msup scale web=5 api=1      change instance counts at runtime (scaling down drains first)
  msup stop                   stop the running msup of this project gracefully
  msup export compose|k8s     write compose.yaml or k8s.yaml for this config (building its images)

Options:
  -c, --config PATH           config file (default: supervisor.config.{ts,mts,js,mjs,json} in this folder);
                              the other commands use it to find the running msup of that project
      --json                  machine-readable output (one JSON object per line for start and logs)
      --no-color              no colours (NO_COLOR is respected too)
      --no-watch              start: ignore the services' watch settings and the config file's changes
  -d, --detach                start: run in the background; return once every instance is ready
      --wait DURATION         start: fail (and stop) unless every instance is ready within DURATION (default 60s with --detach)
  -f, --follow                logs: keep printing new output
  -n, --lines N               logs: how many recent lines (default 50)
      --out DIR               export: the folder to write into (default: this folder)
  -h, --help                  this help
  -v, --version               msup's version

Ctrl-C stops everything gracefully; a second Ctrl-C forces it.
`;

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      json: { type: 'boolean' },
      'no-color': { type: 'boolean' },
      'no-watch': { type: 'boolean' },
      detach: { type: 'boolean', short: 'd' },
      wait: { type: 'string' },
      follow: { type: 'boolean', short: 'f' },
      lines: { type: 'string', short: 'n' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
}

const usage = (message: string, cause?: unknown) =>
  new MsupError('MSUP_USAGE', `${message} (see msup --help)`, cause === undefined ? {} : { cause });

export function parseCliArgs(argv: readonly string[]): CliArgs {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (cause) {
    throw usage((cause as Error).message, cause);
  }
  const { values, positionals } = parsed;
  const lines = values.lines === undefined ? 50 : Number(values.lines);
  if (!Number.isInteger(lines) || lines < 0)
    throw usage(`--lines: expected a whole number, got "${values.lines}"`);
  const [first, ...rest] = positionals;
  const command = (values.help ? 'help' : values.version ? 'version' : (first ?? 'help')) as Command;
  if (!COMMANDS.includes(command)) throw usage(`unknown command "${first}"`);
  const args: CliArgs = {
    command,
    rest,
    config: values.config,
    json: values.json ?? false,
    color: values['no-color'] ? false : undefined,
    watch: !values['no-watch'],
    detach: values.detach ?? false,
    wait: values.wait,
    follow: values.follow ?? false,
    lines,
    out: values.out,
  };
  const maxRest = {
    start: 0,
    status: 0,
    stop: 0,
    help: 1,
    version: 0,
    logs: 1,
    restart: 1,
    scale: Infinity,
    export: 1,
  }[command];
  if (rest.length > maxRest) throw usage(`unexpected argument "${rest[maxRest]}"`);
  if (command === 'scale' && rest.length === 0) throw usage('scale needs at least one SERVICE=COUNT');
  if (command === 'export' && rest[0] !== 'compose' && rest[0] !== 'k8s')
    throw usage(
      `export needs a target: "compose" or "k8s"${rest[0] === undefined ? '' : `, got "${rest[0]}"`}`,
    );
  return args;
}

/** `web=5 api=1` → { web: 5, api: 1 }. */
export function parseScale(rest: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of rest) {
    const match = /^([^=]+)=(\d+)$/.exec(item);
    if (!match) throw usage(`scale: expected SERVICE=COUNT with COUNT a whole number, got "${item}"`);
    counts[match[1] as string] = Number(match[2]);
  }
  return counts;
}
