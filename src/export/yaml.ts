// Writing the exported documents as YAML (the only file that imports `yaml`).
import YAML from 'yaml';

/**
 * An integer as Go's strconv.ParseInt(s, 0, 64) reads one, which Go's YAML readers (kubectl's, Compose's)
 * use for plain scalars: a sign, then 0b, 0o or 0x in either case, digits and underscores. Matches more
 * than it reads (quoting a string too many is harmless).
 */
const GO_PREFIXED_INT = /^[-+]?0[bBoOxX]_?[0-9a-fA-F]+(_[0-9a-fA-F]+)*$/;

/**
 * What go-yaml reads as a number once it has removed every `_` from a plain scalar (it does, before
 * strconv's ParseInt base 0 and ParseFloat): `0X1F_`, `0_x1F` and `-_1` are numbers to it.
 */
const GO_NUMBER =
  /^[-+]?(0[bBoOxX][0-9a-fA-F]+|[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?|\.[0-9]+([eE][-+]?[0-9]+)?)$/;

/** Whether a reader might take the string, written plain, for something else (`0o17`, `0X1F`, `+0o7`). */
function mistakable(text: string): boolean {
  if (GO_PREFIXED_INT.test(text)) return true;
  if (/^[-+.0-9]/.test(text) && text.includes('_') && GO_NUMBER.test(text.replaceAll('_', ''))) return true;
  try {
    // YAML 1.2's core schema (`0o17` is 15 there); YAML 1.1's (`no`, `on`, `8080`) the stringifier quotes itself.
    return typeof YAML.parse(text, { version: '1.2', schema: 'core' }) !== 'string';
  } catch {
    return false;
  }
}

/**
 * The documents as one YAML stream, after `comments` (each line prefixed with `# `). Strings that a
 * YAML 1.1 or 1.2 reader, or Go's integer parsing, would take for booleans or numbers (`no`, `on`,
 * `8080`, `0o17`, `0X1F`) are quoted.
 */
export function toYaml(documents: readonly unknown[], comments: readonly string[]): string {
  const head = comments.map((line) => `# ${line}`.trimEnd()).join('\n');
  const body = documents
    .map((doc) => {
      const document = new YAML.Document(doc, { version: '1.1', aliasDuplicateObjects: false });
      YAML.visit(document, {
        Scalar(_, node) {
          if (typeof node.value === 'string' && mistakable(node.value)) node.type = 'QUOTE_DOUBLE';
        },
      });
      return document.toString({ lineWidth: 0 });
    })
    .join('---\n');
  return `${head}${head ? '\n' : ''}${body}`;
}
