// Splits a child's output into whole lines, so two children writing partial lines never interleave
// inside a line. A partial line is passed on after a short quiet spell (a prompt). A line redrawn from its
// start (a progress bar, a spinner: a `\r`, or an escape sequence that takes the cursor to column 1) is
// passed on as its last state, what a terminal shows after the redraws: at its newline, and once a second
// while it goes on being redrawn. No line passed on holds a `\r` or a move to column 1: on a terminal they
// drew over msup's `web#0 |` prefix.
import { StringDecoder } from 'node:string_decoder';
import { type Clock, type TimerHandle, unrefClock } from '../clock.js';

const MAX_LINE = 64 * 1024;
/** A line redrawn (`\r`) without a newline is passed on (its last state) at most this often. */
const REDRAW_SHOW_MS = 1000;

/**
 * The zeros a move's or an erase's parameter may start with (`ESC[0001G`); with more it is none: a
 * sequence cut between two chunks is then found by looking back at most LONGEST - 1 characters.
 */
const MAX_ZEROS = 8;
/** The longest sequence looked for: `ESC [`, MAX_ZEROS zeros, a digit and the final letter. */
const LONGEST = 2 + MAX_ZEROS + 2;

const CR = 13;
const ESC = 0x1b;
const LEFT_BRACKET = 0x5b;
const ZERO = 0x30;
const G = 0x47;

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

/**
 * The length of the control sequence at `at` that is `ESC [`, a parameter from `lowest` to `highest` (one
 * digit, up to MAX_ZEROS zeros before it allowed; none is 0), and `final`; else 0. A colour (`ESC[1m`,
 * `ESC[31m`) or another column (`ESC[10G`) never matches.
 */
function csiAt(text: string, at: number, final: string, lowest: number, highest: number): number {
  if (text.charCodeAt(at) !== ESC || text.charCodeAt(at + 1) !== LEFT_BRACKET) return 0;
  let i = at + 2;
  while (i < at + 2 + MAX_ZEROS && text.charCodeAt(i) === ZERO) i++;
  let parameter = 0;
  const digit = text.charCodeAt(i);
  if (digit > ZERO && digit <= ZERO + 9) {
    parameter = digit - ZERO;
    i++;
  }
  if (parameter < lowest || parameter > highest) return 0;
  return text.charCodeAt(i) === final.charCodeAt(0) ? i + 1 - at : 0;
}

/**
 * The length of what takes the cursor to column 1 at `at`, where a line's state restarts (0: none): a `\r`,
 * or CHA to column 1, `ESC[G`, `ESC[1G` or `ESC[0G` (Node's readline.cursorTo(0), ora, log-update, listr).
 */
function restartAt(text: string, at: number): number {
  return text.charCodeAt(at) === CR ? 1 : csiAt(text, at, 'G', 0, 1);
}

/**
 * The length of an erase of the line, or of its start up to the cursor, at `at` (`ESC[2K`, `ESC[1K`; 0 if
 * none): what was drawn before it is wiped, and a line's state starts after it as after a move to column
 * 1, text or not after it (log-update's clear(), `ESC[2K ESC[G`). Kept, it erased msup's `web#0 |` prefix.
 */
function wipeAt(text: string, at: number): number {
  return csiAt(text, at, 'K', 1, 2);
}

/** Where a line's state starts anew at `at`: the length of a move to column 1 or of a wipe there, or 0. */
function newStateAt(text: string, at: number): number {
  return restartAt(text, at) || wipeAt(text, at);
}

/**
 * The length of an erase to the end of the line at `at` (`ESC[K`, `ESC[0K`), 0 if none. At the start of a
 * line's state it erases nothing of the line's own (the state drawn over is dropped already).
 */
function eraseAt(text: string, at: number): number {
  return csiAt(text, at, 'K', 0, 0);
}

/**
 * The length of `text` without the moves to column 1 (`\r`, `ESC[1G`) it ends with. Each is looked for
 * within LONGEST characters of where it ends: a line ending in another `G` is not read back to an ESC.
 */
function withoutTrailingRestarts(text: string): number {
  let end = text.length;
  for (;;) {
    const last = text.charCodeAt(end - 1);
    if (last === CR) end--;
    else if (last === G) {
      let esc = end - 3; // `ESC[G` is the shortest
      while (esc > 0 && esc > end - LONGEST && text.charCodeAt(esc) !== ESC) esc--;
      if (esc < 0 || restartAt(text, esc) !== end - esc) return end;
      end = esc;
    } else return end;
  }
}

/**
 * Where the last state of `text` starts: after its last move to column 1 that more text follows, or its
 * last wipe (see wipeAt), up to `end` (where the moves it ends with start: what they mean comes with the
 * next text, a redraw or the `\n` of a CRLF), looked for from `from` on (0: none there).
 */
function stateStart(text: string, end: number, from = 0): number {
  let start = 0;
  let at = from;
  while (at < end) {
    const code = text.charCodeAt(at);
    const length = code === CR ? 1 : code === ESC ? newStateAt(text, at) : 0;
    if (length > 0 && at + length <= end) start = at += length;
    else at++;
  }
  return start;
}

/**
 * Where an escape sequence that `text` ends inside starts (a lone ESC, or `ESC [` and the parameters of a
 * control sequence without its final letter); text.length if none.
 */
function unfinishedAt(text: string): number {
  const esc = text.lastIndexOf('\u001b');
  if (esc === -1 || (esc + 1 < text.length && text.charCodeAt(esc + 1) !== LEFT_BRACKET)) return text.length;
  for (let at = esc + 2; at < text.length; at++) {
    const code = text.charCodeAt(at);
    if (code < 0x20 || code > 0x3f) return text.length; // its final letter: ended (or no control sequence)
  }
  return esc;
}

/** `start`, past the erases in line that come right after it (see eraseAt), up to `end`. */
function pastErases(text: string, start: number, end: number): number {
  let at = start;
  for (;;) {
    const length = eraseAt(text, at);
    if (length === 0 || at + length > end) return at;
    at += length;
  }
}

/**
 * What a terminal shows of a whole line after its redraws: the text after the last move to column 1 (`\r`,
 * `ESC[1G`) that more text follows, or after the last wipe (`ESC[2K`, `ESC[1K`), without the moves at its
 * end nor the erases to the end of the line at its start (`50%\r100%` → `100%`, `text\r` of a CRLF →
 * `text`, `ESC[1G ESC[2K done` → `done`, `frame ESC[2K ESC[G` → nothing). Other escape sequences (colours)
 * stay as they are. Also how `msup logs` prints a stored line: an older msup kept the `\r`s.
 */
export function lastState(line: string): string {
  const end = withoutTrailingRestarts(line);
  return line.slice(pastErases(line, stateStart(line, end), end), end);
}

export class LineSplitter {
  /**
   * The current line's text not passed on yet (for a redrawn line: its last state, and a `\r` if it ends
   * with moves to column 1).
   */
  #pending = '';
  #decoder = new StringDecoder('utf8');
  /** The quiet spell after which a partial line goes out. */
  #timer: TimerHandle | undefined;
  /** While a line is redrawn: when its last state goes out. */
  #redrawTimer: TimerHandle | undefined;
  /**
   * The current line was redrawn (a `\r` or a move to column 1 that more text followed, or one at the end
   * of what came).
   */
  #redrawn = false;
  /** A part (or a state) of the current line went out already, and which: the last one. */
  #shown: string | undefined;
  readonly #emit: (line: string) => void;
  readonly #idleMs: number;
  readonly #clock: Clock;

  constructor(emit: (line: string) => void, idleMs = 100, clock: Clock = unrefClock) {
    this.#emit = emit;
    this.#idleMs = idleMs;
    this.#clock = clock;
  }

  push(chunk: Buffer | string): void {
    // What is pending was read at the chunks before: it holds no newline, no wipe, and no move to column 1
    // but a `\r` at its end and the start of one the chunk cut (at most LONGEST - 1 characters). Only what
    // follows is read: each push read the whole line again, up to 64 KiB (21,000 colours, 8 s).
    const read = this.#pending.length;
    let text = this.#pending + (typeof chunk === 'string' ? chunk : this.#decoder.write(chunk));
    let from = Math.max(0, read - LONGEST + 1);
    let newline = text.indexOf('\n', read);
    while (newline !== -1) {
      this.#endLine(text.slice(0, newline));
      text = text.slice(newline + 1);
      from = 0;
      newline = text.indexOf('\n');
    }
    // Only the last state of a line being redrawn is kept: a bar redrawn faster than the quiet spell
    // grew to 64 KiB of redraws, and went out as one line whose `\r`s wrote over the `web#0 |` prefix.
    // A run of moves to column 1 at its end means one thing, the cursor at column 1: kept as one `\r`.
    // Kept whole, a service writing nothing else grew it without bound, walked back over at each chunk.
    const end = withoutTrailingRestarts(text);
    const start = stateStart(text, end, from);
    if (start > 0 || end < text.length) {
      this.#redrawn = true;
      text = `${text.slice(start, end)}${end < text.length ? '\r' : ''}`;
    }
    this.#pending = this.#emitLong(text, true);
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending === '') return;
    if (!this.#redrawn) this.#timer = this.#clock.setTimeout(() => this.#idle(), this.#idleMs);
    else if (this.#redrawTimer === undefined)
      this.#redrawTimer = this.#clock.setTimeout(() => this.#redrawDue(), REDRAW_SHOW_MS);
  }

  /**
   * A line's end: its last state goes out, unless that went out already (its newline adds no line then:
   * a prompt passed on after a quiet spell, a bar's last state shown while it was redrawn), or `quiet`.
   */
  #endLine(line: string, quiet = false): void {
    // An escape sequence the line ends inside (`Name: ESC[` then a newline, or the stream's end) can never
    // finish: it means nothing, and on a terminal it would take the next prefix's first letter as its end.
    const state = lastState(line.slice(0, unfinishedAt(line)));
    const shown = this.#shown;
    this.#clock.clearTimeout(this.#redrawTimer);
    this.#redrawTimer = undefined;
    if (!quiet && (shown === undefined || (state !== '' && !(this.#redrawn && state === shown))))
      this.#emitLong(state);
    this.#shown = undefined;
    this.#redrawn = false;
  }

  /**
   * A line longer than MAX_LINE goes out in pieces of MAX_LINE, never cut between the two halves of a
   * character past U+FFFF (an emoji: each piece would end or start with a lone surrogate, shown as
   * U+FFFD). Also a line whose newline came with its last chunk: a pipe gives 64 KiB at a time, so a
   * 100,000-character line came as a partial line of 65,536 and the rest, and went out whole.
   * With `keepRest`, the last piece (at most MAX_LINE, and the moves to column 1 it ends with) is returned
   * instead of emitted: a piece that goes out never holds a `\r`.
   */
  #emitLong(line: string, keepRest = false): string {
    const end = keepRest ? withoutTrailingRestarts(line) : line.length;
    let at = 0;
    while (end - at > MAX_LINE) {
      const cut = at + (isHighSurrogate(line.charCodeAt(at + MAX_LINE - 1)) ? MAX_LINE - 1 : MAX_LINE);
      this.#show(line.slice(at, cut));
      at = cut;
    }
    const rest = at === 0 ? line : line.slice(at);
    if (keepRest) return rest;
    this.#show(rest);
    return '';
  }

  #show(text: string): void {
    this.#shown = text;
    this.#emit(text);
  }

  /**
   * A quiet spell: the partial line goes out, but the bytes of a character split across two writes stay
   * in the decoder for the rest of it (ending it there made two U+FFFD of one character), and an escape
   * sequence cut at its end waits for its rest: shown, it ended at the next letter msup printed, on a
   * terminal the `w` of the next line's `web#1 |` prefix.
   */
  #idle(): void {
    this.#timer = undefined;
    const held = unfinishedAt(this.#pending);
    const rest = lastState(this.#pending.slice(0, held)); // a prompt: only an erase in line at its start may go
    this.#pending = this.#pending.slice(held);
    if (rest !== '') this.#show(rest);
  }

  /**
   * A line redrawn for REDRAW_SHOW_MS without a newline (a bar, a spinner): its last state goes out (once;
   * the same state again is not repeated), and the next one at the earliest REDRAW_SHOW_MS later. The
   * state stays the line's: text that continues it (`\r5`, a second, `0%\n`) makes `50%`, not `0%`; its
   * newline adds no line when the state is the one shown. An escape sequence cut at its end is not shown
   * (see #idle).
   */
  #redrawDue(): void {
    this.#redrawTimer = undefined;
    const state = lastState(this.#pending.slice(0, unfinishedAt(this.#pending)));
    if (state !== '' && state !== this.#shown) this.#show(state);
  }

  /** The stream ended: everything left goes out. */
  flush(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const rest = this.#pending + this.#decoder.end();
    this.#pending = '';
    // Nothing but `\r`s (and erases) left (a bar that cleared its line): no line of its own.
    this.#endLine(rest, lastState(rest) === '');
  }
}
