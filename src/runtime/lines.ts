// Splits a child's output into whole lines, so two children writing partial lines never interleave
// inside a line. A partial line is passed on after a short quiet spell (prompts, progress bars).
import { StringDecoder } from 'node:string_decoder';

const MAX_LINE = 64 * 1024;

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

export class LineSplitter {
  #pending = '';
  #decoder = new StringDecoder('utf8');
  #timer: NodeJS.Timeout | undefined;
  readonly #emit: (line: string) => void;
  readonly #idleMs: number;

  constructor(emit: (line: string) => void, idleMs = 100) {
    this.#emit = emit;
    this.#idleMs = idleMs;
  }

  push(chunk: Buffer | string): void {
    let text = this.#pending + (typeof chunk === 'string' ? chunk : this.#decoder.write(chunk));
    let newline = text.indexOf('\n');
    while (newline !== -1) {
      this.#emitLong(text.slice(0, newline > 0 && text[newline - 1] === '\r' ? newline - 1 : newline));
      text = text.slice(newline + 1);
      newline = text.indexOf('\n');
    }
    text = this.#emitLong(text, true);
    this.#pending = text;
    clearTimeout(this.#timer);
    if (text !== '') this.#timer = setTimeout(() => this.#idle(), this.#idleMs).unref();
  }

  /**
   * A line longer than MAX_LINE goes out in pieces of MAX_LINE, never cut between the two halves of a
   * character past U+FFFF (an emoji: each piece would end or start with a lone surrogate, shown as
   * U+FFFD). Also a line whose newline came with its last chunk: a pipe gives 64 KiB at a time, so a
   * 100,000-character line came as a partial line of 65,536 and the rest, and went out whole.
   * With `keepRest`, the last piece (at most MAX_LINE) is returned instead of emitted.
   */
  #emitLong(line: string, keepRest = false): string {
    let rest = line;
    while (rest.length > MAX_LINE) {
      const cut = isHighSurrogate(rest.charCodeAt(MAX_LINE - 1)) ? MAX_LINE - 1 : MAX_LINE;
      this.#emit(rest.slice(0, cut));
      rest = rest.slice(cut);
    }
    if (keepRest) return rest;
    this.#emit(rest);
    return '';
  }

  /**
   * A quiet spell: the partial line goes out, but the bytes of a character split across two writes stay
   * in the decoder for the rest of it (ending it there made two U+FFFD of one character).
   */
  #idle(): void {
    const rest = this.#pending;
    this.#pending = '';
    if (rest !== '') this.#emit(rest);
  }

  /** The stream ended: everything left goes out. */
  flush(): void {
    clearTimeout(this.#timer);
    const rest = this.#pending + this.#decoder.end();
    this.#pending = '';
    if (rest !== '') this.#emitLong(rest);
  }
}
