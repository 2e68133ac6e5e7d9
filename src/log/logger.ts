// msup's own events as log lines: pretty in a terminal, one JSON object per line with --json, in the shapes
// pino and pino-pretty gave them (records `{"level":30,"time":"<ISO>",...fields,"msg":"..."}`; lines
// `[HH:MM:ss] INFO (pid): web#0 msg {fields}`). Written here, not with pino: loading pino and pino-pretty
// took about 100 ms of every `msup start` before its first spawn (CPU profile; BENCHMARKS.md, the
// supervisor), for a few lines a minute. Each formatted line goes to `write` (the CLI's output sink), so
// logging never blocks or throws.

export type Level = 'info' | 'warn' | 'error';
type Fields = Record<string, unknown>;
/** `debug` is taken and dropped, as pino at level info did. */
export type Logger = Record<Level | 'debug', (fields: Fields, msg: string) => void>;

/** pino's numbers for its levels. */
const LEVEL_NUMBER: Record<Level, number> = { info: 30, warn: 40, error: 50 };
const LEVEL_COLOR: Record<Level, number> = { info: 32, warn: 33, error: 31 };
const paint = (on: boolean, code: number, text: string) => (on ? `\u001b[${code}m${text}\u001b[39m` : text);

/**
 * JSON that never throws: an Error as pino serialises one (type, message, stack, its code), a cycle as
 * "[Circular]", a bigint as its digits.
 */
function stringify(value: unknown, indent?: number): string {
  // The objects on the path from the top to the value being written: a value among them is a cycle (an
  // object met twice on different paths is written twice, as pino did).
  const ancestors: unknown[] = [];
  return JSON.stringify(
    value,
    function (this: unknown, _key: string, v: unknown) {
      if (typeof v === 'bigint') return v.toString();
      if (v instanceof Error) {
        const { code } = v as NodeJS.ErrnoException;
        return { type: v.name, message: v.message, stack: v.stack, ...(code === undefined ? {} : { code }) };
      }
      if (typeof v !== 'object' || v === null) return v;
      while (ancestors.length > 0 && ancestors.at(-1) !== this) ancestors.pop();
      if (ancestors.includes(v)) return '[Circular]';
      ancestors.push(v);
      return v;
    },
    indent,
  );
}

/** Fields pino-pretty wrote on lines of their own, taking them for errors. */
const ERROR_KEYS = new Set(['err', 'error']);

/** The time as pino-pretty's `translateTime: 'HH:MM:ss'` shows it (UTC). */
function clock(now: Date): string {
  return now.toISOString().slice(11, 19);
}

export function createLogger(options: {
  json: boolean;
  color: boolean;
  write: (line: string) => void;
  now?: () => Date;
}): Logger {
  const now = options.now ?? (() => new Date());
  const line = (level: Level, fields: Fields, msg: string): string => {
    if (options.json) {
      const record = stringify({ level: LEVEL_NUMBER[level], time: now().toISOString(), ...fields, msg });
      return `${record}\n`;
    }
    const { service, instance, pid, ...others } = fields;
    const who =
      service === undefined
        ? 'msup'
        : `${String(service)}${instance === undefined ? '' : `#${String(instance)}`}`;
    const color = options.color;
    const name = paint(color, LEVEL_COLOR[level], level.toUpperCase());
    const process = pid === undefined ? '' : ` (${String(pid)})`;
    const rest: Fields = {};
    const errors: string[] = [];
    for (const [key, value] of Object.entries(others)) {
      if (value === undefined) continue;
      // `    error: "..."` on a line of its own, an object's JSON indented under it.
      if (ERROR_KEYS.has(key)) errors.push(`\n    ${key}: ${stringify(value, 2).replace(/\n/g, '\n    ')}`);
      else rest[key] = value;
    }
    const extra =
      Object.keys(rest).length > 0 ? ` ${paint(color, 90, stringify(rest))}` : errors.length > 0 ? ' ' : '';
    return `[${clock(now())}] ${name}${process}: ${paint(color, 36, `${who} ${msg}`)}${extra}${errors.join('')}\n`;
  };
  const at =
    (level: Level) =>
    (fields: Fields, msg: string): void =>
      options.write(line(level, fields, msg));
  return { debug: () => {}, info: at('info'), warn: at('warn'), error: at('error') };
}
