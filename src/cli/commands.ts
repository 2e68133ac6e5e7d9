// The commands of the msup CLI and the options each takes, with their help: one table that parsing,
// `msup <command> --help` and the typo hints all read. Pure.
import { RUNTIME_NAMES } from '../config/runtime-names.js';

export const COMMANDS = [
  'start',
  'status',
  'logs',
  'restart',
  'scale',
  'stop',
  'export',
  'compare',
  'help',
  'version',
] as const;
export type Command = (typeof COMMANDS)[number];

export interface OptionSpec {
  /** `--name` (also the key in the parsed values). */
  name: string;
  short?: string;
  /** Takes a value, shown as this word in the help (`--config PATH`). */
  value?: string;
  /** The value may be left out (`--wait` alone means `--wait 60s`). */
  optionalValue?: boolean;
  help: string;
}

export interface CommandSpec {
  usage: string;
  summary: string;
  /** Lines of text after the options. */
  notes?: string[];
  options: OptionSpec[];
}

/** `--wait` alone, and `--wait-timeout` without `--wait`: the same default as `--detach` and the API. */
export const DEFAULT_WAIT = '60s';

const config: OptionSpec = {
  name: 'config',
  short: 'c',
  value: 'PATH',
  help: 'the project of this config file (default: supervisor.config.{ts,mts,js,mjs,json} here)',
};
const json: OptionSpec = { name: 'json', help: 'machine-readable output' };
const noColor: OptionSpec = { name: 'no-color', help: 'no colours (NO_COLOR is respected too)' };
const help: OptionSpec = { name: 'help', short: 'h', help: 'this help' };

export const SPECS: Record<Exclude<Command, 'help' | 'version'>, CommandSpec> = {
  start: {
    usage: 'msup start [options]',
    summary: 'start every service of supervisor.config.* and its front ports',
    options: [
      { ...config, help: 'the config file (default: supervisor.config.{ts,mts,js,mjs,json} here)' },
      { ...json, help: 'one JSON object per line: msup events and the services’ output' },
      noColor,
      { name: 'no-watch', help: "ignore the services' watch settings and the config file's changes" },
      { name: 'detach', short: 'd', help: 'run in the background; return once every instance is ready' },
      {
        name: 'wait',
        value: 'DURATION',
        optionalValue: true,
        help: `fail (and stop) unless every instance is ready within DURATION (default ${DEFAULT_WAIT})`,
      },
      {
        name: 'wait-timeout',
        value: 'DURATION',
        help: "--wait's DURATION, as in docker compose up --wait --wait-timeout (a bare number is seconds)",
      },
      {
        name: 'background',
        help: 'keep running when the process that started msup goes away (--detach uses it)',
      },
      {
        name: 'admin',
        value: '[HOST:]PORT',
        help: "where the admin listener (the dashboard and /metrics) listens (default: the config's admin, else a free port on 127.0.0.1)",
      },
      { name: 'no-admin', help: 'no admin listener: no dashboard, no /metrics' },
      {
        name: 'runtime',
        value: 'NAME',
        help: `run every service on this runtime, whatever the config says: ${RUNTIME_NAMES.join(', ')} (under function, a service with no port and no route stays as it is)`,
      },
      help,
    ],
    notes: [
      'Ctrl-C, SIGTERM or SIGHUP (a closed terminal) stop everything gracefully; a second Ctrl-C forces it.',
      'A foreground msup also stops when the process that started it (npx, npm run) goes away.',
      'The dashboard URL printed at start carries a token: only who has it can restart, scale or stop from it.',
    ],
  },
  status: {
    usage: 'msup status [options]',
    summary: "the running msup's services and instances (exit 0 when all are ready)",
    options: [config, { ...json, help: 'one StatusV1 JSON object' }, help],
  },
  logs: {
    usage: 'msup logs [service] [options]',
    summary: 'recent output and events; with -f, new ones as they come',
    options: [
      config,
      { ...json, help: 'one JSON record per line' },
      noColor,
      { name: 'follow', short: 'f', help: 'keep printing new output from the running msup' },
      {
        name: 'lines',
        short: 'n',
        value: 'N',
        help: 'how many recent records (default 50; 0 for none), counted after --err or --out',
      },
      {
        name: 'err',
        help: "only the services' stderr lines (and, without a service, msup's warn and error events)",
      },
      { name: 'out', help: "only the services' stdout lines (no msup events)" },
      {
        name: 'timestamp',
        short: 't',
        help: "each line starts with its record's time, local: YYYY-MM-DD-HH:mm:ss (as pm2 logs --timestamp)",
      },
      help,
    ],
  },
  restart: {
    usage: 'msup restart [service] [options]',
    summary: 'rolling restart: each instance replaced by a ready one',
    options: [config, json, help],
  },
  scale: {
    usage: 'msup scale SERVICE=COUNT... [options]',
    summary: 'change instance counts at runtime (msup scale web=5 api=1)',
    options: [config, json, help],
  },
  stop: {
    usage: 'msup stop [options]',
    summary: 'stop the running msup of this project gracefully',
    options: [config, json, help],
  },
  export: {
    usage: 'msup export compose|k8s|sam|knative|linkerd|istio [options]',
    summary:
      'write compose.yaml, k8s.yaml, template.yaml (AWS SAM), knative.yaml, or k8s with a mesh (linkerd.yaml, istio.yaml)',
    options: [
      config,
      { ...json, help: 'one JSON object: the file written, its warnings and the images' },
      { name: 'out', value: 'DIR', help: 'the folder to write into (default: this folder)' },
      help,
    ],
    notes: ['Every setting the target cannot express is printed as a warning that names its key.'],
  },
  compare: {
    usage: 'msup compare [options]',
    summary: 'run the config on each runtime in turn and measure them side by side (a table, --json, --html)',
    options: [
      config,
      {
        name: 'runtimes',
        value: 'LIST',
        help: `the runtimes to compare, comma-separated (default: all of ${RUNTIME_NAMES.join(', ')})`,
      },
      { name: 'requests', value: 'N', help: 'requests of the warm load, at most (default 8000)' },
      { name: 'concurrency', value: 'C', help: 'clients sending at once (default 8)' },
      {
        name: 'duration',
        value: 'S',
        help: 'time limit of each load: seconds or a duration, at least 1s (default 30s)',
      },
      {
        name: 'rounds',
        value: 'R',
        help: 'run every runtime R times, in turn, and show each figure ± its 95% interval (default 5; 1 for a quick look)',
      },
      {
        name: 'max-rounds',
        value: 'M',
        help: 'past R, add rounds while a ratio (or a figure without one) is marked ! (noisy), up to M (default 9 without --rounds, else R)',
      },
      { name: 'idle', value: 'S', help: 'the idle period before the after-idle figures (default 3s)' },
      {
        name: 'path',
        value: 'P',
        help: "the URL path the load requests, such as /api/items (default: /, or the front's first route)",
      },
      { ...json, help: 'one JSON object (version 3) on stdout instead of the table' },
      { name: 'html', value: 'FILE', help: 'also write a self-contained HTML report to FILE' },
      help,
    ],
    notes: [
      'The load runs on loopback from a separate process. Every figure is labelled measured, emulated, modelled or published.',
      'A runtime that cannot run here (no container engine) is reported as not run, with the reason.',
    ],
  },
};

/** Every option of any command (`--version` works alone), for telling "not here" from "no such option". */
export function allOptions(): OptionSpec[] {
  const seen = new Map<string, OptionSpec>();
  for (const spec of Object.values(SPECS)) for (const o of spec.options) seen.set(o.name, o);
  seen.set('version', { name: 'version', short: 'v', help: "msup's version" });
  return [...seen.values()];
}

/** Help text wrapped to 100 columns, each further line indented under the first. */
function wrap(text: string, indent: number, width = 100): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

function optionLines(options: readonly OptionSpec[]): string {
  const left = options.map((o) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${o.name}`;
    if (o.value === undefined) return flag;
    return o.optionalValue ? `${flag} [${o.value}]` : `${flag} ${o.value}`;
  });
  const width = Math.max(...left.map((l) => l.length)) + 2;
  return options.map((o, i) => `  ${(left[i] as string).padEnd(width)}${wrap(o.help, width + 2)}`).join('\n');
}

const sentence = (text: string) => `${text[0]?.toUpperCase()}${text.slice(1)}.`;

/** Where the summaries of `msup --help` begin. */
const SUMMARY_COLUMN = 41;

/** A usage and its summary (wrapped under the column): side by side, or the summary on the next line. */
function usageLine(usage: string, summary: string): string {
  const left = `  ${usage}`;
  const text = wrap(summary, SUMMARY_COLUMN);
  // At least two spaces between them: a usage too long for that puts its summary under the column.
  if (left.length + 2 > SUMMARY_COLUMN) return `${left}\n${' '.repeat(SUMMARY_COLUMN)}${text}`;
  return `${left.padEnd(SUMMARY_COLUMN)}${text}`;
}

export const HELP = `msup: a local multi-process supervisor with a built-in load balancer

Usage:
${Object.values(SPECS)
  .map((s) => usageLine(s.usage, s.summary))
  .join('\n')}
${usageLine('msup --version', "msup's version")}

Run msup <command> --help for the options of a command.
Ctrl-C stops everything gracefully; a second Ctrl-C forces it.
`;

/** `msup <command> --help`. */
export function commandHelp(command: keyof typeof SPECS): string {
  const spec = SPECS[command];
  const notes = spec.notes ? `\n${spec.notes.join('\n')}\n` : '';
  return `Usage: ${spec.usage}\n\n${sentence(spec.summary)}\n\nOptions:\n${optionLines(spec.options)}\n${notes}`;
}

/** `msup help <topic>`: a command's help, or a few lines for `help` and `version` (which have no options). */
export function topicHelp(topic: Command): string {
  if (topic === 'help') {
    return 'Usage: msup help [command]\n\nThe commands of msup, or the options of one (as msup <command> --help).\n';
  }
  if (topic === 'version') return "Usage: msup version (also: msup --version, -v)\n\nmsup's version.\n";
  return commandHelp(topic);
}
