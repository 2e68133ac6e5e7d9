// A tiny detached shell process that outlives msup: it learns each instance's process group (and the
// commands that remove containers) over a pipe, and when the pipe closes without a goodbye (msup was
// SIGKILLed or crashed), it ends those groups and runs those commands. A POSIX sh, not a Node process:
// about 1 MB of memory instead of 40.
import { type ChildProcess, spawn } from 'node:child_process';

/**
 * The protocol, one line each: `g+ PGID` / `g- PGID` (guard a process group, or stop guarding it),
 * `l+ PGID` / `l- PGID` (the same for a group ended only after the commands: a container engine's API
 * service, which podman killed mid-create leaves a half-made container no command can see),
 * `c+ ID COMMAND` / `c- ID` (a shell command to run if msup dies), `bye` (a clean exit: touch nothing).
 * After a death: the groups get SIGTERM and the commands start; 1 s later the groups get SIGKILL; once the
 * commands ended (at most 10 s), the late groups get SIGTERM, the commands run again for what the late
 * groups finished making meanwhile (at most 10 s), then the late groups get SIGKILL.
 */
const WATCHDOG_SCRIPT = `
trap '' INT HUP PIPE
groups=' '
late=' '
cmds=''
clean=0
while IFS= read -r line; do
  case $line in
    bye) clean=1 ;;
    'g+ '*) groups="$groups\${line#g+ } " ;;
    'g- '*)
      g=\${line#g- }
      case $groups in *" $g "*) groups="\${groups%% "$g" *} \${groups#* "$g" }" ;; esac ;;
    'l+ '*) late="$late\${line#l+ } " ;;
    'l- '*)
      g=\${line#l- }
      case $late in *" $g "*) late="\${late%% "$g" *} \${late#* "$g" }" ;; esac ;;
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
run_cmds() {
  pids=''
  while IFS= read -r entry; do
    [ -n "$entry" ] || continue
    eval "\${entry#* }" >/dev/null 2>&1 &
    pids="$pids $!"
  done <<END
$cmds
END
}
wait_cmds() {
  n=0
  while [ "$n" -lt 100 ]; do
    running=0
    for p in $pids; do kill -0 "$p" 2>/dev/null && running=1; done
    [ "$running" = 0 ] && return
    sleep 0.1
    n=$((n + 1))
  done
}
for g in $groups; do kill -TERM -"$g" 2>/dev/null; done
run_cmds
sleep 1
for g in $groups; do kill -KILL -"$g" 2>/dev/null; done
wait_cmds
if [ "$late" != ' ' ]; then
  for g in $late; do kill -TERM -"$g" 2>/dev/null; done
  n=0
  while [ "$n" -lt 100 ]; do
    alive=0
    for g in $late; do kill -0 -"$g" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
    n=$((n + 1))
  done
  run_cmds
  wait_cmds
  for g in $late; do kill -KILL -"$g" 2>/dev/null; done
fi
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
  readonly #late = new Set<number>();
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
    for (const pgid of this.#late) this.#send(`l+ ${pgid}`);
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
    return [...this.#groups, ...this.#late];
  }

  /**
   * Guards a process group; returns the function that stops guarding it. `afterCommands`: ended only once
   * the commands (onDeath) ran, for a process they need (a container engine's API service).
   */
  watch(pgid: number, options: { afterCommands?: boolean } = {}): () => void {
    const [set, kind] = options.afterCommands ? [this.#late, 'l'] : [this.#groups, 'g'];
    set.add(pgid);
    this.#send(`${kind}+ ${pgid}`);
    return () => {
      if (!set.delete(pgid)) return;
      this.#send(`${kind}- ${pgid}`);
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
