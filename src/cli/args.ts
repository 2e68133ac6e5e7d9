// The command line: `msup <command> [options]`. Pure.
import { parseArgs } from 'node:util';
import { MsupError } from '../errors.js';

export interface CliArgs {
  command: 'start' | 'help' | 'version';
  config: string | undefined;
  json: boolean;
  color: boolean | undefined;
}

export const HELP = `msup: a local multi-process supervisor with a built-in load balancer

Usage:
  msup start [options]      start every service in supervisor.config.* and proxy their front ports

Options:
  -c, --config PATH         config file (default: supervisor.config.{ts,mts,js,mjs,json} in this folder)
      --json                one JSON object per line: msup's events and the services' output
      --no-color            no colours (NO_COLOR is respected too)
  -h, --help                this help
  -v, --version             msup's version

Ctrl-C stops everything gracefully; a second Ctrl-C forces it.
`;

export function parseCliArgs(argv: readonly string[]): CliArgs {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (cause) {
    throw new MsupError('MSUP_USAGE', `${(cause as Error).message} (see msup --help)`, { cause });
  }
  const { values, positionals } = parsed;
  const base = {
    config: values.config,
    json: values.json ?? false,
    color: values['no-color'] ? false : undefined,
  };
  if (values.help) return { command: 'help', ...base };
  if (values.version) return { command: 'version', ...base };
  const [command, ...rest] = positionals;
  if (command === undefined || command === 'help') return { command: 'help', ...base };
  if (command !== 'start')
    throw new MsupError('MSUP_USAGE', `unknown command "${command}" (see msup --help)`);
  if (rest.length > 0)
    throw new MsupError('MSUP_USAGE', `unexpected argument "${rest[0]}" (see msup --help)`);
  return { command, ...base };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      json: { type: 'boolean' },
      'no-color': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
}
