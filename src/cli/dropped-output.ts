// What `msup start` says of the output lines it dropped for a reader that did not keep up (a terminal
// stopped with Ctrl-S, a pipe not read): how many, and whether the log files have them all.
import type { Logger } from '../log/logger.js';
import type { Supervisor } from '../supervisor.js';

/** What the reports go by: the log files' count of lines not written, and the wait for them. */
export type LogFilesState = Pick<Supervisor, 'unwrittenLines' | 'logFilesWritten'>;

/** After the stop, how long the reports of dropped output wait for the log files to say what they wrote. */
const STOP_TELL_MS = 2000;

/**
 * Tells the output lines dropped for a reader that did not keep up. `.msup/logs has them all` only when the
 * log files missed no line from the report before until every line dropped since is written: else it says
 * that they miss those they could not write (a slow or full disk, whose own warnings tell how many). Told
 * once those lines are written, or counted as not; at once after the stop (`stopped()`: all is final then).
 */
export function droppedOutput(sup: LogFilesState, logger: Logger) {
  let unwritten = 0; // the log files' count of lines not written, at the report before
  let stopped = false;
  /** Reports waiting for the log files: each tells, once, whether they have every line. */
  const telling = new Map<Promise<void>, (all: boolean) => void>();
  const onDropped = (lines: number) => {
    const since = unwritten;
    unwritten = sup.unwrittenLines();
    let told = false;
    const tell = (all: boolean) => {
      if (told) return;
      told = true;
      logger.warn(
        { lines },
        `${lines} line(s) of output dropped: this output was not read fast enough (${
          all
            ? '.msup/logs has them all'
            : '.msup/logs has them, but for lines it could not write meanwhile: see "log file behind" and "log file error"'
        })`,
      );
    };
    if (stopped) {
      tell(sup.unwrittenLines() === since);
      return;
    }
    const waiting = sup.logFilesWritten().then(
      () => tell(sup.unwrittenLines() === since),
      () => tell(false),
    );
    telling.set(waiting, tell);
    void waiting.finally(() => telling.delete(waiting));
  };
  /**
   * The supervisor has stopped: what the log files missed is final; waits for the reports under way, at
   * most STOP_TELL_MS: one whose lines are not known to be written by then says they may not be (a stuck
   * disk must not keep `msup start` from exiting).
   */
  const stop = async () => {
    stopped = true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, STOP_TELL_MS);
    });
    await Promise.race([Promise.all(telling.keys()), late]);
    clearTimeout(timer);
    for (const tell of telling.values()) tell(false);
    telling.clear();
  };
  return { onDropped, stopped: stop };
}
