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
    if (text !== '') this.#timer = setTimeout(() => this.flush(), this.#idleMs).unref();
  }

  flush(): void {
    clearTimeout(this.#timer);
    const rest = this.#pending + this.#decoder.end();
    this.#pending = '';
    if (rest !== '') this.#emit(rest);
  }
}
