// Splits a child's output into whole lines, so two children writing partial lines never interleave
// inside a line. A partial line is passed on after a short quiet spell (prompts, progress bars).
import { StringDecoder } from 'node:string_decoder';

const MAX_LINE = 64 * 1024;

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
      this.#emit(text.slice(0, newline > 0 && text[newline - 1] === '\r' ? newline - 1 : newline));
      text = text.slice(newline + 1);
      newline = text.indexOf('\n');
    }
    while (text.length > MAX_LINE) {
      this.#emit(text.slice(0, MAX_LINE));
      text = text.slice(MAX_LINE);
    }
    this.#pending = text;
    clearTimeout(this.#timer);
    if (text !== '') this.#timer = setTimeout(() => this.#idle(), this.#idleMs).unref();
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
    if (rest !== '') this.#emit(rest);
  }
}
