// A watcher's errors as log lines: the first few one by one, then at most one line per 10 s that carries
// the latest error and how many others were left out, so that a tree failing file after file (EACCES on
// every folder, EMFILE, ELOOP) does not flood the log with hundreds of lines a second.

/** Errors of one watcher logged one by one before the rest are counted. */
export const ERRORS_LOGGED_ONE_BY_ONE = 5;
/** After those, one line per this long at most. */
export const ERROR_LINE_EVERY_MS = 10_000;

export interface ErrorLine {
  error: Error;
  /** Errors of the same watcher since the line before this one that were not logged (0: none). */
  suppressed: number;
}

export class ErrorLines {
  readonly #log: (line: ErrorLine) => void;
  readonly #first: number;
  readonly #everyMs: number;
  #logged = 0;
  #lastAt = Number.NEGATIVE_INFINITY;
  /** The latest error counted and not logged, and how many there are (it included). */
  #held: Error | undefined;
  #counted = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    log: (line: ErrorLine) => void,
    first = ERRORS_LOGGED_ONE_BY_ONE,
    everyMs = ERROR_LINE_EVERY_MS,
  ) {
    this.#log = log;
    this.#first = first;
    this.#everyMs = everyMs;
  }

  report(error: Error): void {
    if (this.#closed) return;
    const now = Date.now();
    if (this.#logged < this.#first || (!this.#timer && now - this.#lastAt >= this.#everyMs)) {
      this.#line({ error, suppressed: 0 }, now);
      return;
    }
    this.#held = error;
    this.#counted++;
    // The count is logged when its 10 s are up even if no error comes after it (not only at the next one).
    this.#timer ??= setTimeout(() => this.#flush(), Math.max(0, this.#lastAt + this.#everyMs - now));
    this.#timer.unref();
  }

  /** The watcher is gone: what was counted and not logged is logged now; nothing after. */
  close(): void {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
  }

  #flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const held = this.#held;
    if (!held) return;
    this.#line({ error: held, suppressed: this.#counted - 1 }, Date.now());
  }

  #line(line: ErrorLine, now: number): void {
    this.#logged++;
    this.#lastAt = now;
    this.#held = undefined;
    this.#counted = 0;
    this.#log(line);
  }
}
