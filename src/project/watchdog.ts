// A tiny detached shell process that outlives msup: it learns each instance's process group (and the
// commands that remove containers) over a pipe, and when the pipe closes without a goodbye (msup was
// SIGKILLed or crashed), it ends those groups and runs those commands. A POSIX sh, not a Node process:
// about 1 MB of memory instead of 40.
import { type ChildProcess, spawn } from 'node:child_process';

/**
 * The protocol, one line each: `g+ PGID` / `g- PGID` (guard a process group, or stop guarding it),
 * `c+ ID COMMAND` / `c- ID` (a shell command to run if msup dies), `bye` (a clean exit: touch nothing).
 */
const WATCHDOG_SCRIPT = `
trap '' INT HUP PIPE
groups=' '
cmds=''
clean=0
while IFS= read -r line; do
  case $line in
    bye) clean=1 ;;
    'g+ '*) groups="$groups\${line#g+ } " ;;
    'g- '*)
      g=\${line#g- }
      case $groups in *" $g "*) groups="\${groups%% "$g" *} \${groups#* "$g" }" ;; esac ;;
    'c+ '*) cmds="$cmds\${line#c+ }
" ;;
    'c- '*)
      id=\${line#c- }
      rest=''
      while IFS= read -r entry; do
        [ -n "$entry" ] && [ "\${entry%% *}" != "$id" ] && rest="$rest$entry
"
      done <<END
$cmds
END
      cmds=$rest ;;
  esac
done
[ "$clean" = 1 ] && exit 0
for g in $groups; do kill -TERM -"$g" 2>/dev/null; done
while IFS= read -r entry; do
  [ -n "$entry" ] && eval "\${entry#* }" >/dev/null 2>&1 &
done <<END
$cmds
END
sleep 1
for g in $groups; do kill -KILL -"$g" 2>/dev/null; done
wait
`;

/** `argv` as one POSIX shell command line. */
export function shellQuote(argv: readonly string[]): string {
  return argv
    .map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`))
    .join(' ');
}

export class Watchdog {
  #child: ChildProcess | undefined;
  readonly #groups = new Set<number>();
  readonly #commands = new Map<string, string>();
  #nextId = 0;
  #closed = false;

  constructor() {
    this.#spawn();
  }

  #spawn(): void {
    const child = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    child.unref();
    child.on('error', () => {});
    const stdin = child.stdin;
    stdin?.on('error', () => {});
    (stdin as unknown as { unref?: () => void } | null)?.unref?.();
    // If someone kills the watchdog, start another and tell it what it must guard.
    child.once('exit', () => {
      if (this.#child === child && !this.#closed) this.#spawn();
    });
    this.#child = child;
    for (const pgid of this.#groups) this.#send(`g+ ${pgid}`);
    for (const [id, command] of this.#commands) this.#send(`c+ ${id} ${command}`);
  }

  #send(line: string): void {
    const stdin = this.#child?.stdin;
    if (stdin && !stdin.destroyed) stdin.write(`${line}\n`);
  }

  /** The pid of the watchdog process now (for tests). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The groups guarded now. */
  groups(): number[] {
    return [...this.#groups];
  }

  /** Guards a process group; returns the function that stops guarding it. */
  watch(pgid: number): () => void {
    this.#groups.add(pgid);
    this.#send(`g+ ${pgid}`);
    return () => {
      if (!this.#groups.delete(pgid)) return;
      this.#send(`g- ${pgid}`);
    };
  }

  /** Runs `argv` if msup dies; returns the function that takes it back. */
  onDeath(argv: readonly string[]): () => void {
    const id = `c${this.#nextId++}`;
    const command = shellQuote(argv).replaceAll('\n', ' ');
    this.#commands.set(id, command);
    this.#send(`c+ ${id} ${command}`);
    return () => {
      if (!this.#commands.delete(id)) return;
      this.#send(`c- ${id}`);
    };
  }

  /** A clean goodbye: the watchdog exits without touching anything. Resolves once it is gone. */
  async close(): Promise<void> {
    const child = this.#child;
    if (this.#closed || !child) return;
    this.#closed = true;
    const gone =
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.ref(); // keep the event loop alive until it has gone
    this.#send('bye');
    child.stdin?.end();
    await gone;
  }
}
