// msup's own events as pino logs: pretty in a terminal, one JSON object per line with --json.
import { pino } from 'pino';
import pretty from 'pino-pretty';

export type Logger = pino.Logger;

export function createLogger(options: { json: boolean; color: boolean; destination?: number }): Logger {
  const fd = options.destination ?? 1;
  const base = { base: null, level: 'info' };
  if (options.json)
    return pino({ ...base, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd, sync: true }));
  const stream = pretty({
    destination: fd,
    sync: true,
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
  return pino(base, stream);
}
