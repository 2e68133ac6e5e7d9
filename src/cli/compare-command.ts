// `msup compare`: runs compare(), prints one line per phase (and a bar on a terminal) on stderr, then the
// table (or --json) on stdout, and writes the HTML report with --html.
import { accessSync, constants, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isatty } from 'node:tty';
import { compare, fellShort } from '../compare/compare.js';
import { compareReportHtml } from '../compare/report-html.js';
import type { CompareProgress } from '../compare/types.js';
import { MsupError } from '../errors.js';
import type { CliArgs } from './args.js';
import { EXIT } from './exit-codes.js';
import { formatCompare } from './format-compare.js';
import type { Stdio } from './output-sink.js';
import { projectRoot } from './project.js';

const BAR_WIDTH = 30;

/** ` (round 2/5)`, past the rounds asked for ` (round 7, up to 9)`; nothing with one round. */
export function roundOf(e: Pick<CompareProgress, 'round' | 'rounds' | 'maxRounds'>): string {
  if (e.round > e.rounds) return ` (round ${e.round}, up to ${e.maxRounds})`;
  if (e.rounds > 1) return ` (round ${e.round}/${e.rounds})`;
  return '';
}

/** `[=======       ] 1200/2000` for a load under way. */
export function progressBar(done: number, total: number, width = BAR_WIDTH): string {
  const filled = total > 0 ? Math.min(width, Math.round((done / total) * width)) : 0;
  return `[${'='.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total}`;
}

export async function compareCommand(args: CliArgs, io: Stdio): Promise<number> {
  const root = projectRoot(args.config);
  const tty = isatty(2);
  let barShown = false;
  const onProgress = (e: CompareProgress) => {
    const where = `${e.runtime}${roundOf(e)}`;
    if (e.done !== undefined && e.total !== undefined) {
      if (!tty) return;
      io.err.write(`\r\x1b[2Kmsup compare: ${where}: ${progressBar(e.done, e.total)}`);
      barShown = true;
      return;
    }
    // A round added is the compare's, not one runtime's.
    const head = e.phase === 'more-rounds' ? '' : `${where}: `;
    io.err.write(`${barShown ? '\r\x1b[2K' : ''}msup compare: ${head}${e.message}\n`);
    barShown = false;
  };
  const c = args.compare;
  // A report that cannot be written is said before the run, not after minutes of it.
  const htmlFile = c.html === undefined ? undefined : path.resolve(c.html);
  if (htmlFile !== undefined) checkWritable(htmlFile);
  const result = await compare({
    cwd: root,
    ...(args.config === undefined ? {} : { configFile: path.resolve(args.config) }),
    ...(c.runtimes === undefined ? {} : { runtimes: c.runtimes }),
    ...(c.requests === undefined ? {} : { requests: c.requests }),
    ...(c.concurrency === undefined ? {} : { concurrency: c.concurrency }),
    ...(c.duration === undefined ? {} : { duration: c.duration }),
    ...(c.rounds === undefined ? {} : { rounds: c.rounds }),
    ...(c.maxRounds === undefined ? {} : { maxRounds: c.maxRounds }),
    ...(c.idle === undefined ? {} : { idle: c.idle }),
    ...(c.path === undefined ? {} : { path: c.path }),
    onProgress,
  });
  if (barShown) io.err.write('\r\x1b[2K');
  // The result first: a report that fails to write at the end loses nothing that was measured.
  io.out.write(args.json ? `${JSON.stringify(result)}\n` : formatCompare(result));
  if (htmlFile !== undefined) {
    try {
      writeFileSync(htmlFile, compareReportHtml(result));
    } catch (error) {
      throw new MsupError(
        'MSUP_WRITE_FAILED',
        `--html ${htmlFile}: could not write the report: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    io.err.write(`msup compare: wrote ${htmlFile}\n`);
  }
  return result.runtimes.some(fellShort) ? EXIT.failed : EXIT.ok;
}

/** Throws MSUP_USAGE when `file` cannot be written (its folder missing or read-only, or itself read-only). */
function checkWritable(file: string): void {
  const stat = statSync(file, { throwIfNoEntry: false });
  if (stat?.isDirectory())
    throw new MsupError('MSUP_USAGE', `--html ${file}: is a folder; name the report's file`);
  const target = stat ? file : path.dirname(file);
  try {
    accessSync(target, constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? `its folder ${target} does not exist` : `${target} is not writable (${code})`;
    throw new MsupError('MSUP_USAGE', `--html ${file}: cannot write the report there: ${why}`, {
      cause: error,
    });
  }
}
