// A string `command` that uses no shell syntax is only words: it runs without `/bin/sh -c`, so the pid msup
// shows (and signals) is the program's own, not a shell's. Anything the shell would read differently keeps
// the shell. Pure.

/** Characters that mean something to /bin/sh: quotes, expansions, globs, redirections, operators, comments. */
const SHELL_SYNTAX = /[|&;<>()$`\\"'*?[\]{}~#!\n\r\t]/;

/** Shell builtins and keywords: not programs that can run without a shell. */
const BUILTINS = new Set(
  (
    '. : [ alias bg break case cd command continue do done elif else esac eval exec exit export false fc fg ' +
    'fi for function getopts hash if in jobs kill let local read readonly return select set shift source ' +
    'test then time times trap true type ulimit umask unalias unset until wait while'
  ).split(' '),
);

/**
 * The words of `line` when the shell would run it as a plain program with arguments: `node server.js
 * --port=3000` → ['node', 'server.js', '--port=3000']. Undefined when the shell is needed: shell syntax,
 * a variable assignment before the program (`PORT=1 node x`), or a builtin (`cd`, `exec`, ...).
 */
export function plainWords(line: string): string[] | undefined {
  if (SHELL_SYNTAX.test(line)) return undefined;
  const words = line.split(' ').filter((w) => w !== '');
  const [program] = words;
  if (program === undefined || program.includes('=') || BUILTINS.has(program)) return undefined;
  return words;
}
