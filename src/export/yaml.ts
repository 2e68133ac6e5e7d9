// Writing the exported documents as YAML (the only file that imports `yaml`).
import YAML from 'yaml';

/**
 * The documents as one YAML stream, after `comments` (each line prefixed with `# `). Strings that a
 * YAML 1.1 reader would take for booleans or numbers (`no`, `on`, `8080`) are quoted.
 */
export function toYaml(documents: readonly unknown[], comments: readonly string[]): string {
  const head = comments.map((line) => `# ${line}`.trimEnd()).join('\n');
  const body = documents
    .map((doc) => YAML.stringify(doc, { version: '1.1', lineWidth: 0, aliasDuplicateObjects: false }))
    .join('---\n');
  return `${head}${head ? '\n' : ''}${body}`;
}
