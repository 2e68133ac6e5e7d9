// A tiny detached process that outlives msup: it learns each instance's process group over a pipe,
// and when the pipe closes without a goodbye (msup was SIGKILLed or crashed), it ends those groups.
import { type ChildProcess, spawn } from 'node:child_process';

/** Runs in its own process via `node -e`, so it works from the sources and the build alike. */
const WATCHDOG_SOURCE = `
const groups = new Set();
let buffer = '';
let clean = false;
for (const s of ['SIGINT', 'SIGHUP', 'SIGPIPE']) process.on(s, () => {});
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  let i;
  while ((i = buffer.indexOf('\\n')) >= 0) {
    const line = buffer.slice(0, i);
    buffer = buffer.slice(i + 1);
    if (line === 'bye') clean = true;
    else if (line[0] === '+') groups.add(Number(line.slice(1)));
    else if (line[0] === '-') groups.delete(Number(line.slice(1)));
  }
});
const signal = (name) => { for (const g of groups) { try { process.kill(-g, name); } catch {} } };
const end = () => {
  if (clean || groups.size === 0) process.exit(0);
  signal('SIGTERM');
  setTimeout(() => { signal('SIGKILL'); process.exit(0); }, 800);
};
process.stdin.on('end', end);
process.stdin.on('error', end);
`;

export class Watchdog {
  #child: ChildProcess | undefined;
  readonly #groups = new Set<number>();
  #closed = false;

  constructor() {
    this.#spawn();
  }

  #spawn(): void {
    const child = spawn(process.execPath, ['-e', WATCHDOG_SOURCE], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    child.unref();
    const stdin = child.stdin;
    stdin?.on('error', () => {});
    (stdin as unknown as { unref?: () => void } | null)?.unref?.();
    // If someone kills the watchdog, start another and tell it what it must guard.
    child.once('exit', () => {
      if (this.#child === child && !this.#closed) this.#spawn();
    });
    this.#child = child;
    for (const pgid of this.#groups) this.#send(`+${pgid}`);
  }

  #send(line: string): void {
    const stdin = this.#child?.stdin;
    if (stdin && !stdin.destroyed) stdin.write(`${line}\n`);
  }

  /** The groups guarded now. */
  groups(): number[] {
    return [...this.#groups];
  }

  watch(pgid: number): void {
    this.#groups.add(pgid);
    this.#send(`+${pgid}`);
  }

  forget(pgid: number): void {
    this.#groups.delete(pgid);
    this.#send(`-${pgid}`);
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
