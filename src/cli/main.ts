// The msup command: the only place that prints errors and sets the exit status, and it exits only once
// everything a command printed has reached its reader.
import { readFileSync } from 'node:fs';
import { loadConfigEarly } from '../config/load-isolated.js';
import { MsupError } from '../errors.js';
import { packageFile } from '../package-root.js';
import { type CliArgs, type Command, HELP, parseCliArgs, topicHelp } from './args.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { holdSignals, START_SIGNALS } from './held-signals.js';
import { OutputSink, type Stdio } from './output-sink.js';
import { startConfigSource } from './project.js';

/** How long `msup start` waits, once stopped, for a terminal that does not read to take its last lines. */
const START_FLUSH_MS = 2000;

function version(): string {
  const pkg = JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function report(error: unknown, io: Stdio): number {
  if (error instanceof MsupError) {
    io.err.write(`msup: ${error.message} [${error.code}]\n`);
    return exitCodeFor(error.code);
  }
  io.err.write(`msup: unexpected error: ${(error as Error)?.stack ?? String(error)}\n`);
  return EXIT.failed;
}

/**
 * Each command's module is imported when it runs: `msup start` then holds neither the config loader's
 * validation (zod) nor the exporter, and `msup status` starts fast.
 */
async function run(args: CliArgs, io: Stdio): Promise<number> {
  switch (args.command) {
    case 'help': {
      const topic = args.rest[0] as Command | undefined;
      io.out.write(topic === undefined ? HELP : topicHelp(topic));
      return EXIT.ok;
    }
    case 'version':
      io.out.write(`${version()}\n`);
      return EXIT.ok;
    case 'start':
      if (args.detach) return (await import('./detach.js')).detachCommand(args, io);
      {
        // A Ctrl-C while this thread loads the supervisor's code (the config may already be printing) is
        // kept for the command, which stops as for one that comes later: Node's default would end msup by
        // the signal, with its config's worker.
        const early = holdSignals(START_SIGNALS);
        // The config loads in its worker while this thread loads the supervisor's code (2 cores: both at once).
        loadConfigEarly(startConfigSource(args));
        return (await import('./start-command.js')).startCommand(args, io, early);
      }
    case 'status':
      return (await import('./control-commands.js')).statusCommand(args, io);
    case 'logs':
      return (await import('./logs-command.js')).logsCommand(args, io);
    case 'restart':
      return (await import('./control-commands.js')).restartCommand(args, io);
    case 'scale':
      return (await import('./control-commands.js')).scaleCommand(args, io);
    case 'stop':
      return (await import('./control-commands.js')).stopCommand(args, io);
    case 'export':
      return (await import('./export-command.js')).exportCommand(args, io);
    case 'compare':
      return (await import('./compare-command.js')).compareCommand(args, io);
  }
}

export async function main(argv: readonly string[]): Promise<void> {
  const io: Stdio = { out: new OutputSink(1), err: new OutputSink(2) };
  let code: number;
  let args: CliArgs | undefined;
  try {
    args = parseCliArgs(argv);
    code = await run(args, io);
  } catch (error) {
    code = report(error, io);
  }
  process.exitCode = code;
  // A pipe is written asynchronously: exiting now would cut what is still queued. A foreground msup does
  // not wait long for a terminal that stopped reading.
  const wait = args?.command === 'start' && !args.detach ? START_FLUSH_MS : undefined;
  await Promise.all([io.out.flush(wait), io.err.flush(wait)]);
  // Output that could not be written (a full disk) is lost: not a success, whatever the command did. A
  // reader that went away (EPIPE) is no failure: it took what it wanted.
  const lost = io.out.lost ?? io.err.lost;
  if (lost) {
    io.err.write(`msup: cannot write output: ${lost.code ?? lost.message}\n`);
    await io.err.flush(wait);
    if (code === EXIT.ok) code = EXIT.failed;
  }
  // Everything is stopped by now; do not wait for stray handles.
  process.exit(code);
}
