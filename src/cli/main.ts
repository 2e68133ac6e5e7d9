// The msup command: the only place that prints errors and sets the exit status.
import { readFileSync } from 'node:fs';
import { MsupError } from '../errors.js';
import { HELP, parseCliArgs } from './args.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
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

export async function main(argv: readonly string[]): Promise<void> {
  let code: number;
  try {
    const args = parseCliArgs(argv);
    if (args.command === 'help') {
      process.stdout.write(HELP);
      code = EXIT.ok;
    } else if (args.command === 'version') {
      process.stdout.write(`${version()}\n`);
      code = EXIT.ok;
    } else {
      code = await startCommand(args);
    }
  } catch (error) {
    code = report(error);
  }
  process.exitCode = code;
  // Everything is stopped by now; do not wait for stray handles (stdin of a watchdog, timers).
  process.exit(code);
}
