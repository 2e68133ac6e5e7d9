// Where the engine's REST API is: for docker, its engine's socket; for podman (no daemon), a
// `podman system service` that msup starts itself at the first container and owns like any child: in its
// own process group and a private folder, guarded by the watchdog, remembered in the state file (so a
// next start reaps it after a crash), and stopped when the runtime closes. One service serves every
// container of the run: a container starts without a Go client's start-up (about 0.1 s) and without a
// client process kept per container (about 36 MB each).
import { type ChildProcess, spawn } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  lstatSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Reaped, Remembered, RuntimeHost } from '../../contract.js';
import { MAX_SOCKET_PATH } from '../../control/protocol.js';
import { MsupError } from '../../errors.js';
import { GroupWaiter, processStartTime, signalGroup } from '../proc.js';
import { reapGroups } from '../process.js';
import { dockerEndpoint } from './docker-endpoint.js';
import type { Engine } from './engine.js';
import { EngineApi } from './engine-api.js';

function readOrNull(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/**
 * Whether `dir` is still the private folder msup made: a directory (not a link), this user's, 0700. Its
 * name is in `ps` (the service's command line): once a cleaner of the temporary folder removed it, another
 * user could make a folder or a link of that name, which msup must not take for its own.
 */
function ownPrivateDir(dir: string): boolean {
  try {
    const stat = lstatSync(dir);
    return (
      stat.isDirectory() &&
      (process.getuid === undefined || stat.uid === process.getuid()) &&
      (stat.mode & 0o777) === 0o700
    );
  } catch {
    return false;
  }
}

function isSocket(file: string): boolean {
  try {
    return lstatSync(file).isSocket();
  } catch {
    return false;
  }
}

/** The service's socket in its folder `<base>/msup-podman-XXXXXX` (mkdtemp's six characters). */
const socketIn = (base: string) => path.join(base, 'msup-podman-XXXXXX', 'api.sock');

/** `$XDG_RUNTIME_DIR` as a folder for the API service: a folder of this user's that it can write. */
function usableRuntimeDir(dir: string): boolean {
  try {
    const st = statSync(dir);
    if (!st.isDirectory() || (process.getuid !== undefined && st.uid !== process.getuid())) return false;
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where the service's private folder is made: the temporary folder, unless the socket's path would then be
 * too long for a unix socket (MAX_SOCKET_PATH, as for the control socket; a long TMPDIR made podman fail
 * with `bind: invalid argument` at every start, a crash loop), else `$XDG_RUNTIME_DIR` (this user's
 * own), else /tmp, where mkdtemp's folder is as private (0700, a name nobody chose). Pure.
 */
export function serviceFolderBase(places: { tmpdir: string; runtimeDir?: string | undefined }): string {
  const candidates = [places.tmpdir];
  if (places.runtimeDir && path.isAbsolute(places.runtimeDir)) candidates.push(places.runtimeDir);
  candidates.push('/tmp');
  return candidates.find((base) => Buffer.byteLength(socketIn(base)) < MAX_SOCKET_PATH) ?? '/tmp';
}

/** How long the API may take to answer its first ping. */
const READY_TIMEOUT_MS = 20_000;
/** After SIGTERM at close, how long the service has before SIGKILL. */
const STOP_GRACE_MS = 5000;
/** The state-file entry of podman's service (not an instance): its `service` and `data.kind`. */
export const SERVICE_ENTRY = { service: '(engine)', kind: 'engine-service' } as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Running {
  api: EngineApi;
  child: ChildProcess | null;
  /** Settles when the service process has exited (at once for docker's engine, which msup does not own). */
  gone: Promise<void>;
  release(): void;
}

export class EngineService {
  readonly #engine: Engine;
  readonly #host: RuntimeHost;
  #current: Promise<Running> | undefined;
  #dir: string | undefined;
  /** Counts the services started, so a dead one's exit does not clear its successor. */
  #generation = 0;
  #closed = false;

  constructor(engine: Engine, host: RuntimeHost) {
    this.#engine = engine;
    this.#host = host;
  }

  /**
   * The API, started (podman) or found (docker) at the first call, and again after the service died or
   * its socket went (a cleaner of the temporary folder removed its folder while it ran).
   */
  async api(): Promise<EngineApi> {
    for (let tries = 0; ; tries++) {
      if (this.#closed) throw new MsupError('MSUP_STOPPED', 'the container runtime is closed');
      this.#current ??= this.#open();
      const current = this.#current;
      current.catch(() => {
        if (this.#current === current) this.#current = undefined;
      });
      const running = await current;
      // Checked here, not only when a request fails: the first start after a removal already works.
      if (running.child === null || isSocket(running.api.socket) || tries > 0) return running.api;
      this.#lost(current, running);
    }
  }

  /**
   * The service of `current` cannot be reached any more (its socket is gone, or refuses): it is ended
   * and the next call starts another. Containers run on: conmon, not the service, keeps them.
   */
  #lost(current: Promise<Running>, running: Running): void {
    if (this.#current !== current) return;
    this.#current = undefined;
    this.#host.log(
      'warn',
      "podman's API service lost its socket (was its folder removed?): starting another",
      {
        socket: running.api.socket,
      },
    );
    const pid = running.child?.pid;
    if (pid === undefined || running.child?.exitCode !== null || running.child.signalCode !== null) return;
    signalGroup(pid, 'SIGTERM');
    void Promise.race([running.gone.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]).then(
      (ended) => {
        if (!ended) signalGroup(pid, 'SIGKILL');
      },
    );
  }

  async #open(): Promise<Running> {
    if (this.#engine.name === 'docker') return this.#docker();
    return this.#podman();
  }

  async #docker(): Promise<Running> {
    const endpoint = dockerEndpoint(process.env, os.homedir(), readOrNull);
    if ('unsupported' in endpoint) {
      throw new MsupError(
        'MSUP_NO_CONTAINER_ENGINE',
        `docker's engine is at ${endpoint.unsupported} (from ${endpoint.from}); msup talks to the engine's API over a unix socket only (unix:// endpoints, such as rootless docker's context)`,
      );
    }
    const socket = endpoint.socket;
    const api = new EngineApi(socket);
    const ping = await api.request('GET', '/_ping', undefined, 5000).catch((e: Error) => e);
    if (ping instanceof Error || ping.status !== 200) {
      api.close();
      throw new MsupError(
        'MSUP_NO_CONTAINER_ENGINE',
        `the docker engine's API at ${socket} did not answer (${ping instanceof Error ? ping.message : `HTTP ${ping.status}`}); ` +
          `msup starts containers through it (found from ${endpoint.from}; DOCKER_HOST=unix://PATH names another socket)`,
      );
    }
    // Docker 29 and later refuse the API versions older than 1.44.
    await api.negotiate().catch(() => {});
    this.#host.log('debug', "docker engine's API", { socket, version: api.version });
    return { api, child: null, gone: Promise.resolve(), release: () => api.close() };
  }

  async #podman(): Promise<Running> {
    // A private folder: the socket, and the service's working folder, where conmon leaves its `oom` marker.
    // A new one after a service died when whatever ended it took the folder too (a reap, a cleaner of the
    // temporary folder): never one of the same name made again, which another user may have made first.
    if (this.#dir === undefined || !ownPrivateDir(this.#dir)) {
      const runtimeDir = process.env.XDG_RUNTIME_DIR;
      const base = serviceFolderBase({
        tmpdir: os.tmpdir(),
        // This user's, and writable: after `su` or `sudo -E` it may be another user's (mkdtemp: EACCES).
        runtimeDir: runtimeDir && usableRuntimeDir(runtimeDir) ? runtimeDir : undefined,
      });
      if (base !== os.tmpdir())
        this.#host.log(
          'info',
          "the temporary folder's path is too long for a unix socket's: podman's API service has its folder in " +
            base,
          {
            tmpdir: os.tmpdir(),
          },
        );
      this.#dir = mkdtempSync(path.join(base, 'msup-podman-'));
    }
    const dir = this.#dir;
    const generation = ++this.#generation;
    const socket = path.join(dir, 'api.sock');
    rmSync(socket, { force: true });
    // Its stderr goes to a file of its folder, not a pipe (a socket pair) to msup: podman (Go) dies of SIGPIPE at
    // its next warning once msup is gone, and a podman killed while it makes a container leaves it half
    // made (conmon and `runc init`, where no `podman ps --all` shows it) before the watchdog's removals.
    const logFile = path.join(dir, 'service.log');
    const log = openSync(logFile, 'w', 0o600);
    let child: ChildProcess;
    try {
      child = spawn(this.#engine.bin, ['system', 'service', '--time=0', `unix://${socket}`], {
        cwd: dir,
        detached: true,
        stdio: ['ignore', 'ignore', log],
      });
    } finally {
      closeSync(log);
    }
    let said = '';
    child.on('error', (error) => {
      said += `\n${error.message}`;
    });
    const gone = new Promise<void>((resolve) => {
      if (child.pid === undefined) resolve();
      child.once('close', () => resolve());
      child.once('error', () => {
        if (child.pid === undefined) resolve();
      });
    });
    const pid = child.pid ?? null;
    // Ended after a crash only once the containers' removals ran: podman killed while it creates one leaves
    // it half made (conmon and `runc init`, 'created'), where no `podman ps --all` shows it.
    const unguard = pid === null ? () => {} : this.#host.guard({ group: pid, afterCommands: true });
    const unguardDir = this.#host.guard({ command: ['rm', '-rf', dir] });
    const forget =
      pid === null
        ? Promise.resolve(() => {})
        : processStartTime(pid).then((startTime) =>
            this.#host.remember({
              runtime: 'container',
              service: SERVICE_ENTRY.service,
              index: 0,
              data: { kind: SERVICE_ENTRY.kind, pgid: pid, startTime, dir },
            }),
          );
    /** Set once the service answered. */
    let running: Running | undefined;
    const api = new EngineApi(socket, () => {
      // Before its first answer, a missing socket is a service still starting.
      const current = this.#current;
      if (!running || !current) return;
      void current.then((r) => {
        if (r === running) this.#lost(current, r);
      });
    });
    const release = () => {
      api.close();
      unguard();
      unguardDir();
      void forget.then((f) => f());
    };
    let exited = false;
    void gone.then(() => {
      exited = true;
      release();
      // Died on its own (killed, reaped): the next call starts another.
      if (this.#generation === generation) this.#current = undefined;
    });
    return (async (): Promise<Running> => {
      const began = Date.now();
      for (;;) {
        if (exited) break;
        const ping = await api.request('GET', '/_ping', undefined, 2000).catch(() => null);
        if (ping?.status === 200) {
          this.#host.log('debug', "podman's API service ready", { pid, ms: Date.now() - began });
          running = { api, child, gone, release };
          return running;
        }
        if (Date.now() - began > READY_TIMEOUT_MS) break;
        await sleep(20);
      }
      if (pid !== null) signalGroup(pid, 'SIGKILL');
      await gone;
      let logged = '';
      try {
        logged = readFileSync(logFile, 'utf8').slice(-4000);
      } catch {}
      const reason = `${logged}\n${said}`.trim().split('\n').at(-1) || (exited ? 'it exited' : 'no answer');
      throw new MsupError(
        'MSUP_NO_CONTAINER_ENGINE',
        `podman's API service (podman system service) did not start: ${reason}`,
      );
    })();
  }

  /**
   * Whether conmon marked an out-of-memory kill since `since` (ms): on cgroup v1 it writes `oom` into its
   * working folder, the service's, and the engine then says OOMKilled false. The marker is taken (removed)
   * by the container that claims it; two containers killed for memory at the same moment share one.
   */
  oomMarkerSince(since: number): boolean {
    if (!this.#dir) return false;
    const marker = path.join(this.#dir, 'oom');
    try {
      const fresh = statSync(marker).mtimeMs >= since - 1000;
      // Taken, or stale: conmon only creates it, so an old one would hide the next kill.
      rmSync(marker, { force: true });
      return fresh;
    } catch {
      return false;
    }
  }

  /** Stops podman's service (docker's engine is not msup's): TERM, then KILL after a grace period. */
  async close(): Promise<void> {
    this.#closed = true;
    const current = await this.#current?.catch(() => undefined);
    this.#current = undefined;
    if (current?.child?.pid !== undefined && current.child.exitCode === null) {
      const pid = current.child.pid;
      signalGroup(pid, 'SIGTERM');
      const ended = await Promise.race([
        current.gone.then(() => true),
        sleep(STOP_GRACE_MS).then(() => false),
      ]);
      if (!ended) {
        signalGroup(pid, 'SIGKILL');
        await current.gone;
      }
      // Anything else left in its group.
      await new GroupWaiter().wait(pid, 2000);
    }
    current?.release();
    if (this.#dir && ownPrivateDir(this.#dir)) rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = undefined;
  }
}

/** Ends the podman services a crashed run left (remembered process groups), and their folders. */
export async function reapServices(entries: readonly Remembered[]): Promise<Reaped[]> {
  const mine = entries.filter((e) => e.data.kind === SERVICE_ENTRY.kind);
  const reaped = await reapGroups(mine);
  for (const entry of mine)
    if (typeof entry.data.dir === 'string' && path.basename(entry.data.dir).startsWith('msup-podman-'))
      rmSync(entry.data.dir, { recursive: true, force: true });
  return reaped.map((r) => ({ ...r, what: `podman API service, ${r.what}` }));
}
