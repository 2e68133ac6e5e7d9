// msup's own events as pino logs: pretty in a terminal, one JSON object per line with --json. Each
// formatted line goes to `write` (the CLI's output sink), so logging never blocks or throws.
import { pino } from 'pino';
import { prettyFactory } from 'pino-pretty';

export type Logger = pino.Logger;

export function createLogger(options: {
  json: boolean;
  color: boolean;
  write: (line: string) => void;
}): Logger {
  const base = { base: null, level: 'info' };
  if (options.json)
    return pino({ ...base, timestamp: pino.stdTimeFunctions.isoTime }, { write: options.write });
  const pretty = prettyFactory({
    colorize: options.color,
    translateTime: 'HH:MM:ss',
    singleLine: true,
    ignore: 'service,instance',
    messageFormat: (log, messageKey) => {
      const who =
        log.service === undefined
          ? 'msup'
          : `${log.service}${log.instance === undefined ? '' : `#${log.instance}`}`;
      return `${who} ${String(log[messageKey])}`;
    },
  });
  return pino(base, { write: (line: string) => options.write(pretty(line)) });
}
