/**
 * Text from elsewhere (a command's output, a runtime's error) as msup shows it on a terminal: the
 * characters a terminal may act on escaped as `\u001b`, and the half of a character a cut left at a
 * text's start dropped. Pure; a leaf.
 */

/**
 * Characters a terminal may act on: the C0 controls (a newline too: a line stays one), DEL, the C1
 * controls (U+009B is a CSI for some terminals), and the line separators and bidirectional controls that
 * move or reorder text. All are single UTF-16 units, so a text can be escaped whole or a character at a
 * time alike. JSON.stringify leaves no C0 control in its output, so escaping its output escapes the rest.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const escapeOne = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** `text` with each character a terminal may act on escaped as `\u001b` (6 characters), the rest as it is. */
export function escapeUnsafe(text: string): string {
  return text.replace(UNSAFE, escapeOne);
}

/**
 * `text` without a lone low surrogate at its start: the end of a character a cut from the end (the last n
 * UTF-16 units) split in two. A decoded text has none of its own.
 */
export function withoutCutSurrogate(text: string): string {
  return text.replace(/^[\udc00-\udfff]/, '');
}
