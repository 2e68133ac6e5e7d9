// Where a JSON text stops being JSON, as a line and a column: Node's parse errors often give no position
// ("Unexpected token '}', ... is not valid JSON"). A small recursive scan of the grammar. Pure.

const WS = new Set([' ', '\t', '\n', '\r']);

/** The offset of the first character that makes `text` invalid JSON (its length for a cut-off text). */
export function jsonErrorOffset(text: string): number | undefined {
  let at = 0;
  const fail = (): never => {
    throw at;
  };
  const ws = () => {
    while (at < text.length && WS.has(text[at] as string)) at++;
  };
  const literal = (word: string) => {
    for (const ch of word) {
      if (text[at] !== ch) fail();
      at++;
    }
  };
  const digits = () => {
    if (!/[0-9]/.test(text[at] ?? '')) fail();
    while (/[0-9]/.test(text[at] ?? '')) at++;
  };
  const number = () => {
    if (text[at] === '-') at++;
    if (text[at] === '0') at++;
    else digits();
    if (text[at] === '.') {
      at++;
      digits();
    }
    if (text[at] === 'e' || text[at] === 'E') {
      at++;
      if (text[at] === '+' || text[at] === '-') at++;
      digits();
    }
  };
  const string = () => {
    at++; // the opening quote
    for (;;) {
      const ch = text[at];
      if (ch === undefined || ch < ' ') fail();
      at++;
      if (ch === '"') return;
      if (ch !== '\\') continue;
      const escaped = text[at];
      if (escaped === 'u') {
        at++;
        for (let i = 0; i < 4; i++, at++) if (!/[0-9a-fA-F]/.test(text[at] ?? '')) fail();
      } else if (escaped !== undefined && '"\\/bfnrt'.includes(escaped)) at++;
      else fail();
    }
  };
  const list = (close: string, item: () => void) => {
    at++; // the opening bracket
    ws();
    if (text[at] !== close) {
      for (;;) {
        item();
        ws();
        if (text[at] === close) break;
        if (text[at] !== ',') fail();
        at++;
        ws();
      }
    }
    at++; // the closing bracket
  };
  const value = (): void => {
    ws();
    const ch = text[at];
    if (ch === '{')
      list('}', () => {
        if (text[at] !== '"') fail();
        string();
        ws();
        if (text[at] !== ':') fail();
        at++;
        value();
      });
    else if (ch === '[') list(']', value);
    else if (ch === '"') string();
    else if (ch === 't') literal('true');
    else if (ch === 'f') literal('false');
    else if (ch === 'n') literal('null');
    else if (ch === '-' || /[0-9]/.test(ch ?? '')) number();
    else fail();
  };
  try {
    value();
    ws();
    return at < text.length ? at : undefined;
  } catch (offset) {
    return offset as number;
  }
}

/** 1-based line and column of an offset. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}
