// `msup logs [service] [-n N] [-f]`: recent output from the project's log files (there even when
// msup is not running), then, with -f, new lines live from the running msup.
import path from 'node:path';
import { controlFollow } from '../control/client.js';
import { type LogFileRecord, readLogTail } from '../log/files.js';
import { formatOutputLine, makeStyle, wantsColor } from '../log/output.js';
import type { OutputLine } from '../types.js';
import type { CliArgs } from './args.js';
import { EXIT } from './exit-codes.js';
import { projectRoot } from './project.js';

type EventRecord = Extract<LogFileRecord, { kind: 'event' }>;

function formatEvent(record: EventRecord): string {
  const { service, instance, ...rest } = record.fields as { service?: string; instance?: number };
  const who = service === undefined ? 'msup' : `${service}${instance === undefined ? '' : `#${instance}`}`;
  const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
  return `[${record.time}] ${record.level.toUpperCase()} ${who} ${record.msg}${extra}\n`;
}

export async function logsCommand(args: CliArgs): Promise<number> {
  const root = projectRoot(args.config);
  const service = args.rest[0];
  const color = args.color ?? wantsColor(process.stdout.isTTY, process.env);
  const printLine = (record: OutputLine & { time?: string }) => {
    if (args.json) process.stdout.write(`${JSON.stringify({ kind: 'output', ...record })}\n`);
    else
      process.stdout.write(
        formatOutputLine(record, makeStyle([{ name: record.service, instances: 1 }], color)),
      );
  };
  const recent = await readLogTail(path.join(root, '.msup', 'logs'), {
    lines: args.lines,
    ...(service ? { service } : {}),
  });
  const printEvent = (record: EventRecord) =>
    process.stdout.write(args.json ? `${JSON.stringify(record)}\n` : formatEvent(record));
  for (const record of recent) {
    if (record.kind === 'output') printLine(record);
    else printEvent(record);
  }
  if (!args.follow) return EXIT.ok;
  const follow = await controlFollow(root, service, (record) => {
    const { kind, lines } = record as { kind?: string; lines?: number };
    if (kind === 'event') printEvent(record as EventRecord);
    else if (kind !== 'skipped') printLine(record as OutputLine);
    else if (args.json) process.stdout.write(`${JSON.stringify(record)}\n`);
    else process.stdout.write(`msup: ${lines} line(s) skipped: this terminal read too slowly\n`);
  });
  const stop = () => follow.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await follow.done;
  return EXIT.ok;
}
