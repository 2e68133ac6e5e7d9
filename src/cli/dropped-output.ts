// What `msup start` says of the output lines it dropped for a reader that did not keep up (a terminal
// stopped with Ctrl-S, a pipe not read): how many, and whether the log files have them all.
import type { Logger } from '../log/logger.js';
import type { Supervisor } from '../supervisor.js';

/** What the reports go by: the log files' count of lines not written, and the wait for them. */
export type LogFilesState = Pick<Supervisor, 'unwrittenLines' | 'logFilesWritten'>;

/** After the stop, how long the reports of dropped output wait for the log files to say what they wrote. */
const STOP_TELL_MS = 2000;

/** A report's count: of the lines logged before it, how many the log files did not get; once known. */
interface Count {
  notWritten?: number;
  known: Promise<void>;
}

/**
 * Tells the output lines dropped for a reader that did not keep up. `.msup/logs has them all` only when the
 * log files got every line logged between the report before and this one (its lines among them): else it
 * says that they miss those they could not write (a slow or full disk, whose own warnings tell how many).
 * Told once those lines are written, or counted as not; at once after the stop (`stopped()`: all is final
 * then). A line the log files did not get counts in one report, the one whose span of lines holds it (a
 * report looked at every line lost from the call before it until its lines were written: one lost while
 * two reports waited was in both).
 */
export function droppedOutput(sup: LogFilesState, logger: Logger) {
  /** The report before's count (none before the first: 0 of 0 lines). */
  let before: Count = { notWritten: 0, known: Promise.resolve() };
  let stopped = false;
  /** Reports waiting for the log files: each tells, once, whether they have every line. */
  const telling = new Map<Promise<void>, (all: boolean) => void>();
  const onDropped = (lines: number) => {
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
    const previous = before;
    const count: Count = { known: Promise.resolve() };
    before = count;
    // A count not known (one that failed, or one still waiting at the stop): they may miss some.
    const verdict = () => {
      const { notWritten } = count;
      tell(notWritten !== undefined && notWritten === previous.notWritten);
    };
    if (stopped) {
      count.notWritten = sup.unwrittenLines(); // every line logged is counted by now
      verdict();
      return;
    }
    count.known = sup.logFilesWritten().then(
      (notWritten) => {
        count.notWritten = notWritten;
      },
      () => {},
    );
    const waiting = Promise.all([previous.known, count.known]).then(verdict);
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
