// Which container engine runs here (podman without a daemon first, docker with a running engine), and
// running its commands, with node:child_process.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { MsupError } from '../../errors.js';
import { withoutCutSurrogate } from '../../text-escape.js';

export type EngineName = 'podman' | 'docker';

export interface Engine {
  name: EngineName;
  /** The engine's command, as an absolute path. */
  bin: string;
  /** The engine's version (the server's, for docker). */
  version: string;
  /** How long a quick command (inspect, images, rm) may take before msup gives up; 60 s by default. */
  commandTimeoutMs?: number;
}

export interface EngineCommandOptions {
  /** What the command reads on stdin: text, bytes, or a stream (an image tar for `import`). */
  input?: string | Buffer | Readable;
  /** SIGKILL the command after this long; `code` is then null. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * What an abort does first, given the command's pid and its exit: the command is SIGKILLed only once
   * this has settled and the command still runs (a build that can end itself cleanly).
   */
  onAbort?: (pid: number, exited: Promise<void>) => Promise<void>;
  /** Every whole line the command writes (stdout and stderr), as it comes: build progress. */
  onLine?: (line: string) => void;
  /** Variables set for the command, over msup's own environment. */
  env?: Readonly<Record<string, string>>;
  /**
   * How much of each stream the result keeps, in characters: its last ones. 1 MiB by default (a build's
   * log); an exec probe keeps a few KiB, the end it shows.
   */
  keepChars?: number;
}

export interface EngineResult {
  /** The exit code; null when the command was killed (timeout, abort) or could not be started. */
  code: number | null;
  /** Killed because it ran past `timeoutMs`. */
  timedOut?: boolean;
  /** The signal that ended it when someone else than msup sent it (the OOM killer, a `kill`). */
  signal?: string;
  stdout: string;
  stderr: string;
}

/** How long `podman info` / `docker info` may take before the engine counts as not working. */
const PROBE_TIMEOUT_MS = 5000;
/** What is kept of a command's output by default: its last characters (a build can print a lot). */
const KEEP_CHARS = 1 << 20;

/**
 * The last `keep` characters of a text that comes in pieces (none for 0). A piece is appended (V8 joins
 * strings without copying them) and the text cut to its last `keep` characters only once it holds twice as
 * many: each character is copied a bounded number of times, never the whole kept text at every piece. Never
 * half of a surrogate pair at the start.
 */
export function textTail(keep: number) {
  let kept = '';
  return {
    push(text: string): void {
      kept += text;
      // from an index, not slice(-keep): slice(-0) is slice(0), all of it, where 0 keeps nothing
      if (kept.length > 2 * keep) kept = kept.slice(kept.length - keep);
    },
    text(): string {
      // A lone low surrogate at the start is the end of a character cut in two (a decoded text has none).
      return withoutCutSurrogate(kept.slice(Math.max(0, kept.length - keep)));
    },
  };
}

/**
 * Runs `bin args`; never rejects for a failed command (see `code`), only for a bad `input` stream, once
 * the command it killed for it has exited.
 */
export function engineCommand(
  engine: Pick<Engine, 'bin'>,
  args: readonly string[],
  options: EngineCommandOptions = {},
): Promise<EngineResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(engine.bin, [...args], {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } }),
    });
    let inputError: Error | undefined;
    const keep = options.keepChars ?? KEEP_CHARS;
    const kept = { stdout: textTail(keep), stderr: textTail(keep) };
    // A character whose bytes come in two chunks is decoded whole, once its last byte is in.
    const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
    const pending = { stdout: '', stderr: '' };
    const take = (stream: 'stdout' | 'stderr', text: string) => {
      if (text === '') return;
      kept[stream].push(text);
      if (!options.onLine) return;
      const lines = (pending[stream] + text).split('\n');
      pending[stream] = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') options.onLine(line);
    };
    child.stdout?.on('data', (chunk: Buffer) => take('stdout', decoders.stdout.write(chunk)));
    child.stderr?.on('data', (chunk: Buffer) => take('stderr', decoders.stderr.write(chunk)));
    let killed = false;
    let timedOut = false;
    const kill = () => {
      killed = true;
      child.kill('SIGKILL');
    };
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            kill();
          }, options.timeoutMs);
    let settled = false;
    let markExited = () => {};
    const exited = new Promise<void>((resolve) => {
      markExited = resolve;
    });
    const onAbort = () => {
      const pid = child.pid;
      if (!options.onAbort || pid === undefined) return kill();
      void options
        .onAbort(pid, exited)
        .catch(() => {})
        .then(() => {
          if (!settled) kill();
        });
    };
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (code: number | null, extra?: string, signal?: string | null) => {
      if (settled) return;
      settled = true;
      markExited();
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      for (const stream of ['stdout', 'stderr'] as const) {
        take(stream, decoders[stream].end());
        if (options.onLine && pending[stream].trim() !== '') options.onLine(pending[stream]);
      }
      const stdout = kept.stdout.text();
      let stderr = kept.stderr.text();
      if (extra) stderr += `${stderr ? '\n' : ''}${extra}`;
      if (inputError) reject(inputError);
      else
        resolve({ code, stdout, stderr, ...(timedOut ? { timedOut } : {}), ...(signal ? { signal } : {}) });
    };
    // Not started (ENOENT, EACCES): a result like any failed command, with the reason.
    child.once('error', (error) => {
      if (child.pid === undefined) finish(null, error.message);
    });
    child.once('close', (code, signal) => (killed ? finish(null) : finish(code, undefined, signal)));
    // Killed: done when it exits, even if something it started still holds its output open.
    child.once('exit', () => {
      if (!killed) return;
      child.stdout?.destroy();
      child.stderr?.destroy();
      finish(null);
    });
    const input = options.input;
    if (input === undefined || !child.stdin) return;
    // The command may end before it read everything (a failed import): that is its exit to report.
    child.stdin.on('error', () => {});
    if (typeof input === 'string' || Buffer.isBuffer(input)) {
      child.stdin.end(input);
      return;
    }
    input.once('error', (error) => {
      inputError = error;
      kill();
    });
    input.pipe(child.stdin);
  });
}

/** The absolute path of `name` on `PATH`, or null. */
function which(name: string, searchPath: string): string | null {
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {}
  }
  return null;
}

const firstLine = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '') ?? '';

/** Whether one engine works here: found on PATH, and its `info` answers (docker: a running engine). */
async function probe(name: EngineName, searchPath: string): Promise<Engine | string> {
  const bin = which(name, searchPath);
  if (!bin) return 'not found on PATH';
  // podman info checks its storage and OCI runtime; docker info needs the engine (daemon) to answer.
  const format = name === 'podman' ? '{{.Version.Version}}' : '{{.ServerVersion}}';
  const result = await engineCommand({ bin }, ['info', '--format', format], { timeoutMs: PROBE_TIMEOUT_MS });
  if (result.code === null) return `"${name} info" did not answer within ${PROBE_TIMEOUT_MS / 1000} s`;
  const version = result.stdout.trim();
  if (result.code !== 0 || version === '' || version === '<no value>') {
    const said = firstLine(result.stderr) || firstLine(result.stdout) || `exit code ${result.code}`;
    return `"${name} info" failed: ${said}`;
  }
  return { name, bin, version };
}

export const INSTALL_HINT =
  'install podman and runc (Debian/Ubuntu: apt-get install podman runc), or start a docker engine. ' +
  'Where crun refuses the cgroup layout (hybrid cgroups), make runc the runtime with lower default ' +
  'ulimits in /etc/containers/containers.conf (or a file named by CONTAINERS_CONF): ' +
  '[containers] default_ulimits=["nofile=1024:1024","nproc=1024:1024"] and [engine] runtime="runc"';

async function detect(preferred: EngineName | null, searchPath: string): Promise<Engine> {
  const candidates: EngineName[] = preferred ? [preferred] : ['podman', 'docker'];
  const tried: string[] = [];
  for (const name of candidates) {
    const found = await probe(name, searchPath);
    if (typeof found !== 'string') return found;
    tried.push(`${name}: ${found}`);
  }
  const which = preferred ? `only "${preferred}" (container.engine)` : candidates.join(' and ');
  throw new MsupError(
    'MSUP_NO_CONTAINER_ENGINE',
    `no working container engine: tried ${which}.\n  ${tried.join('\n  ')}\nTo run containers, ${INSTALL_HINT}`,
  );
}

// Detection runs a command or two (about 0.1 s each): once per process for a given choice and PATH.
const detected = new Map<string, Promise<Engine>>();

/**
 * The engine to use: `preferred` when given (and working), else podman (no daemon), else docker when its
 * engine runs. Throws MSUP_NO_CONTAINER_ENGINE saying what was tried, what each said and what to install.
 */
export function detectEngine(preferred: EngineName | null = null): Promise<Engine> {
  const searchPath = process.env.PATH ?? '';
  const key = `${preferred ?? ''}\0${searchPath}`;
  let found = detected.get(key);
  if (!found) {
    found = detect(preferred, searchPath);
    detected.set(key, found);
    // A failure is not kept: an engine installed or started later is found by the next call.
    found.catch(() => detected.delete(key));
  }
  return found;
}
