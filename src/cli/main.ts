// The msup command: the only place that prints errors and sets the exit status.
import { readFileSync } from 'node:fs';
import { MsupError } from '../errors.js';
import { type CliArgs, HELP, parseCliArgs } from './args.js';
import { restartCommand, scaleCommand, statusCommand, stopCommand } from './control-commands.js';
import { detachCommand } from './detach.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { exportCommand } from './export-command.js';
import { logsCommand } from './logs-command.js';
import { startCommand } from './start-command.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function report(error: unknown): number {
  if (error instanceof MsupError) {
    process.stderr.write(`msup: ${error.message} [${error.code}]\n`);
    return exitCodeFor(error.code);
  }
  process.stderr.write(`msup: unexpected error: ${(error as Error)?.stack ?? String(error)}\n`);
  return EXIT.failed;
}

function run(args: CliArgs): Promise<number> | number {
  switch (args.command) {
    case 'help':
      process.stdout.write(HELP);
      return EXIT.ok;
    case 'version':
      process.stdout.write(`${version()}\n`);
      return EXIT.ok;
    case 'start':
      return args.detach ? detachCommand(args) : startCommand(args);
    case 'status':
      return statusCommand(args);
    case 'logs':
      return logsCommand(args);
    case 'restart':
      return restartCommand(args);
    case 'scale':
      return scaleCommand(args);
    case 'stop':
      return stopCommand(args);
    case 'export':
      return exportCommand(args);
  }
}

export async function main(argv: readonly string[]): Promise<void> {
  let code: number;
  try {
    code = await run(parseCliArgs(argv));
  } catch (error) {
    code = report(error);
  }
  process.exitCode = code;
  // Everything is stopped by now; do not wait for stray handles.
  process.exit(code);
}
