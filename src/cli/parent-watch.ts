// A foreground msup stops when the process that started it goes away (a script kills the `npx` or
// `npm run` it started msup with): Node has no parent-death signal, so the parent pid is polled.
import { readFileSync } from 'node:fs';

/** The shells npm runs a script or an `npx` command with (its script-shell; sh by default). */
const SHELLS = new Set(['sh', 'dash', 'bash', 'zsh', 'ash', 'ksh', 'mksh', 'busybox']);

/** A process's command name and parent from /proc/<pid>/stat; undefined when it is gone or there is no /proc. */
function procStat(pid: number): { comm: string; ppid: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name is in parentheses and may hold spaces or parentheses: the fields follow the last ')'.
    const close = text.lastIndexOf(')');
    const ppid = Number(text.slice(close + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? { comm: text.slice(text.indexOf('(') + 1, close), ppid } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The npm (or npx) behind msup's parent, when that parent is the shell npm ran msup with (`sh -c 'msup
 * start'`). npm passes a SIGTERM on to that shell, which dies of it; a SIGKILL leaves the shell alive, adopted
 * by init, and still msup's parent, so msup's own parent never changes: only the shell's parent does.
 */
export function npmBehindShell(parent: number, env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (!env.npm_command && !env.npm_lifecycle_event) return undefined;
  const shell = procStat(parent);
  if (!shell || !SHELLS.has(shell.comm) || shell.ppid <= 1) return undefined;
  return shell.ppid;
}

export function watchParent(onGone: (parent: number) => void, intervalMs = 500): () => void {
  const parent = process.ppid;
  // Started by init (or a container's pid 1): there is no parent to lose.
  if (parent <= 1) return () => {};
  // One small read of /proc a poll, and only under npm or npx (Linux; elsewhere the parent alone).
  const npm = npmBehindShell(parent);
  const timer = setInterval(() => {
    let gone: number | undefined;
    if (process.ppid !== parent) gone = parent;
    // The shell's parent changed: npm is gone (a shell that cannot be read is gone too: the next poll sees it).
    else if (npm !== undefined && (procStat(parent)?.ppid ?? npm) !== npm) gone = npm;
    if (gone === undefined) return;
    clearInterval(timer);
    onGone(gone);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
