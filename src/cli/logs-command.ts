// `msup logs [service] [-n N] [-f] [--err|--out] [-t]`: recent output from the project's log files (there
// even when msup is not running), then, with -f, new lines live from the running msup, until its reader
// goes away. --err and --out keep one stream's records (the last N of them), -t puts each one's time first.
import path from 'node:path';
import { isatty } from 'node:tty';
import { loadConfigFile } from '../config/load.js';
import { didYouMean } from '../config/nearest.js';
import { controlFollow } from '../control/client.js';
import { FOLLOW_TAIL_MAX, type SkippedRecord } from '../control/protocol.js';
import { MsupError } from '../errors.js';
import { EVENTS_LOG, type LogFileRecord, loggedNames } from '../log/files.js';
import { fitStyle, formatOutputLine, type OutputStyle, wantsColor } from '../log/output.js';
import { inStream, streamLogTail } from '../log/tail.js';
import type { OutputLine } from '../types.js';
import type { CliArgs } from './args.js';
import { EXIT } from './exit-codes.js';
import { localTimestamp, printRecords, unreadableMessage } from './logs-print.js';
import type { Stdio } from './output-sink.js';
import { projectRoot } from './project.js';

type EventRecord = Extract<LogFileRecord, { kind: 'event' }>;

function formatEvent(record: EventRecord): string {
  const { service, instance, ...rest } = record.fields as { service?: string; instance?: number };
  const who = service === undefined ? 'msup' : `${service}${instance === undefined ? '' : `#${instance}`}`;
  const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
  return `[${record.time}] ${record.level.toUpperCase()} ${who} ${record.msg}${extra}\n`;
}

/** What `msup logs` says of lines it did not get, by why: the remedy differs. */
function skippedMessage({ lines, reason, shown, error }: SkippedRecord): string {
  switch (reason) {
    case 'unreadable':
      return unreadableMessage({ kind: 'skipped', lines, reason, shown, error });
    case 'too-large':
      return `msup: ${lines} line(s) skipped: the oldest of the recent lines asked for, more than msup holds at once (without -f, msup logs reads any number from the files)\n`;
    case 'evicted':
      return `msup: ${lines} line(s) skipped: this terminal read its recent lines too slowly while other followers asked for theirs\n`;
    case 'slow':
    case undefined: // an older msup says no why: most often this one
      return `msup: ${lines} line(s) skipped: this terminal read too slowly\n`;
    default: // a newer msup's
      return `msup: ${lines} line(s) skipped (${String(reason)})\n`;
  }
}

/**
 * A service is known when the config names it or it has a log file (a service removed from the config
 * still has its logs). An unknown one fails the same way with or without -f, before anything is read.
 */
async function checkService(
  logged: readonly string[],
  configFile: string | undefined,
  service: string,
): Promise<void> {
  const known = new Set(logged);
  if (known.has(service)) return;
  try {
    const config = await loadConfigFile({ cwd: process.cwd(), ...(configFile ? { configFile } : {}) });
    for (const s of config.services) known.add(s.name);
  } catch {
    // A config that does not load: the log files are all there is to go by.
  }
  if (known.has(service)) return;
  const names = [...known].sort();
  throw new MsupError(
    'MSUP_UNKNOWN_SERVICE',
    `no service "${service}" (services: ${names.join(', ') || 'none'})${didYouMean(service, names)}`,
    { service },
  );
}

export async function logsCommand(args: CliArgs, io: Stdio): Promise<number> {
  const root = projectRoot(args.config);
  const service = args.rest[0];
  // The services with log files: known ones, and a colour each in the order of their names.
  const logged = (await loggedNames(path.join(root, '.msup', 'logs'))).filter((n) => n !== EVENTS_LOG).sort();
  if (service !== undefined) await checkService(logged, args.config, service);
  const color = args.color ?? wantsColor(isatty(1), process.env);
  const print = (text: string) => io.out.write(text);
  const services = logged.map((name) => ({ name, instances: 1 }));
  // --timestamp: the record's time before its text line (with --json, the time is in the record).
  const stamp = (time: unknown) => {
    if (!args.timestamp || typeof time !== 'string') return '';
    const text = localTimestamp(time);
    return color ? `\u001b[2m${text}\u001b[22m ` : `${text} `;
  };
  let style: OutputStyle | undefined;
  const printLine = (record: OutputLine & { time?: string }) => {
    if (args.json) return print(`${JSON.stringify({ kind: 'output', ...record })}\n`);
    style = fitStyle(style, services, record, color);
    return print(stamp(record.time) + formatOutputLine(record, style));
  };
  const printEvent = (record: EventRecord) =>
    print(args.json ? `${JSON.stringify(record)}\n` : stamp(record.time) + formatEvent(record));
  // --err / --out: the files and a current msup give that stream's records only; an older msup gives
  // them all (it ignores the field), so the records are checked here too.
  const { stream } = args;
  const show = (record: unknown) => {
    const { kind } = record as { kind?: string };
    if (stream && (kind === 'event' || kind === 'output') && !inStream(record as LogFileRecord, stream)) {
      return true;
    }
    if (kind === 'event') return printEvent(record as EventRecord);
    if (kind !== 'skipped') return printLine(record as OutputLine);
    if (args.json) return print(`${JSON.stringify(record)}\n`);
    const skipped = record as SkippedRecord;
    // Not lines of the log but a failure beside them: on stderr, where a reader of stdout does not take it for output.
    if (skipped.reason === 'unreadable') {
      io.err.write(skippedMessage(skipped));
      return true;
    }
    return print(skippedMessage(skipped));
  };
  // The recent records of the files, as this command reads them (msup need not be running), printed as
  // they are read, at the pace the reader takes them: what is held is a chunk of each log and the output
  // not yet taken, however many are asked for (-n 10000000 held every record, and all of their output).
  // False when they could not be read: said as msup says it of a follower's tail.
  // A read that fails halfway (EIO after hundreds of lines) says how many were shown and that the rest did
  // not come, not that the last N could not be read.
  const showFiles = async (): Promise<boolean> => {
    const recent = streamLogTail(path.join(root, '.msup', 'logs'), {
      lines: args.lines,
      ...(service ? { service } : {}),
      ...(stream ? { stream } : {}),
    });
    const { failure } = await printRecords(recent, show, io.out, args.lines);
    if (failure) show(failure);
    return !failure;
  };
  if (!args.follow) return (await showFiles()) ? EXIT.ok : EXIT.failed;
  // With -f, the running msup sends the recent records itself, then the live ones: read in the same
  // moment as it subscribes us, so no line is missed or shown twice where they meet.
  let held: unknown[] | undefined = [];
  const asked = Math.min(args.lines, FOLLOW_TAIL_MAX);
  let follow: Awaited<ReturnType<typeof controlFollow>>;
  try {
    follow = await controlFollow(root, { service, lines: asked, stream }, (record) => {
      if (held) return void held.push(record);
      // A slow reader: stop reading from msup, which then drops lines for us and says how many.
      if (show(record) || io.out.gone) return;
      follow.pause();
      void io.out.room().then(() => follow.resume());
    });
  } catch (error) {
    // No msup (or it refused): what the files have, then the error.
    await showFiles();
    throw error;
  }
  // An older msup sends no recent records: read from the files (its live lines wait meanwhile).
  if (!follow.tail && args.lines > 0) await showFiles();
  // One that sends them but knows no --err/--out sent the last N of every stream: those of this one are
  // shown, fewer than N. Said on stderr, as a note beside the output.
  if (follow.tail && stream && !follow.streamed && asked > 0) {
    io.err.write(
      `msup: the running msup is older than --${stream === 'stderr' ? 'err' : 'out'}: of its last ${asked} record(s), those of ${stream} are shown (restart msup for the last ${asked} of ${stream})\n`,
    );
  }
  for (const record of held) if (!io.out.gone) show(record);
  held = undefined;
  // The reader is gone (| head -1 has its line): nothing more to show; end quietly.
  io.out.configure({ onGone: () => follow.close() });
  if (io.out.gone) follow.close();
  const stop = () => follow.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await follow.done;
  return EXIT.ok;
}
