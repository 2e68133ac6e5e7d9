// `msup logs [service] [-n N] [-f]`: recent output from the log files, then (with -f) new lines live.
import { controlFollow } from '../control/client.js';
import { formatOutputLine, makeStyle, wantsColor } from '../log/output.js';
import type { OutputLine } from '../types.js';
import type { CliArgs } from './args.js';
import { EXIT } from './exit-codes.js';
import { projectRoot } from './project.js';

export async function logsCommand(args: CliArgs): Promise<number> {
  const root = projectRoot(args.config);
  const service = args.rest[0];
  const color = args.color ?? wantsColor(process.stdout.isTTY, process.env);
  const print = (record: OutputLine & { time?: string }) => {
    if (args.json) process.stdout.write(`${JSON.stringify(record)}\n`);
    else
      process.stdout.write(
        formatOutputLine(record, makeStyle([{ name: record.service, instances: 1 }], color)),
      );
  };
  if (!args.follow) return EXIT.ok;
  const follow = await controlFollow(root, service, (record) => print(record as OutputLine));
  const stop = () => follow.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await follow.done;
  return EXIT.ok;
}
