// .containerignore / .dockerignore: which files of a service folder stay out of its image, with the engines'
// rules (`*`, `?`, `**`, `[...]`, `!` exceptions, the last match wins, a match covers what is below). Pure.

/** Always left out, at any depth: git's data and msup's own state. */
export const ALWAYS_IGNORED = new Set(['.git', '.msup']);

interface Rule {
  exception: boolean;
  regex: RegExp;
}

export interface IgnoreRules {
  /** Whether the file or folder at `relative` (`a/b/c`, no leading `/`) is left out. */
  ignored(relative: string): boolean;
  /** Whether a left-out folder can be skipped whole (no `!` exception could bring back what is below). */
  readonly prunable: boolean;
}

function globToRegex(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        // `**/` any folders (also none), `/**` at the end everything below, `**` alone anything.
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          out += '(?:.*/)?';
        } else out += '.*';
      } else out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end === -1) out += '\\[';
      else {
        let inner = pattern.slice(i + 1, end);
        if (inner.startsWith('!')) inner = `^${inner.slice(1)}`;
        out += `[${inner.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < pattern.length) {
      i++;
      out += (pattern[i] as string).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

/** Cleans a pattern as the engines do: no leading `/` or `./`, no `//`, no trailing `/`. */
function clean(pattern: string): string {
  const parts: string[] = [];
  for (const part of pattern.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return parts.join('/');
}

/** Parses the text of an ignore file. */
export function parseIgnore(text: string): IgnoreRules {
  const rules: Rule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const exception = line.startsWith('!');
    if (exception) line = line.slice(1).trim();
    const pattern = clean(line);
    if (pattern === '') continue;
    rules.push({ exception, regex: globToRegex(pattern) });
  }
  return {
    prunable: !rules.some((r) => r.exception),
    ignored(relative) {
      const parts = relative.split('/');
      if (parts.some((p) => ALWAYS_IGNORED.has(p))) return true;
      let result = false;
      for (const rule of rules) {
        // A pattern matches a path when it matches the path itself or one of the folders above it.
        let matched = false;
        for (let n = 1; n <= parts.length && !matched; n++)
          matched = rule.regex.test(parts.slice(0, n).join('/'));
        if (matched) result = !rule.exception;
      }
      return result;
    },
  };
}
