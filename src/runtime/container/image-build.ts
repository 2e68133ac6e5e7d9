// The engine's side of making an image: import the minimal image's tar, build a Containerfile, label a
// copy for another service, find images by label, and remove a service's older images.
import { readlinkSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { MsupError } from '../../errors.js';
import { removeLeftovers } from '../../leftovers.js';
import { scanProcesses } from '../proc.js';
import type { ImageEntry } from './content-hash.js';
import { type Engine, type EngineResult, engineCommand } from './engine.js';
import { IMAGE_PATH } from './minimal-image.js';
import { FolderChangedError, tarStream } from './tar.js';

export function failed(service: string, message: string, output?: string): MsupError {
  const said = output?.trim().split('\n').slice(-10).join('\n    ');
  return new MsupError(
    'MSUP_IMAGE_FAILED',
    `service "${service}": ${message}${said ? `:\n    ${said}` : ''}`,
    {
      service,
    },
  );
}

/** How long a quick engine command (inspect, images, rm, a build of a bare FROM) may take by default. */
export const ENGINE_TIMEOUT_MS = 60_000;

/**
 * Runs a command that takes the engine a moment; one that does not end in time (a hung engine, a lock held
 * by another of its commands) is MSUP_IMAGE_FAILED saying so, instead of a start that waits for ever. A
 * stop (`signal`) kills it: MSUP_STOPPED, without the wait (a hung engine held a Ctrl-C for 60 s).
 */
export async function quickCommand(
  engine: Engine,
  service: string,
  args: readonly string[],
  timeoutMs = engine.commandTimeoutMs ?? ENGINE_TIMEOUT_MS,
  signal?: AbortSignal,
): Promise<EngineResult> {
  const result = await engineCommand(engine, args, { timeoutMs, ...(signal ? { signal } : {}) });
  if (signal?.aborted) throw stoppedBuilding(service);
  if (result.timedOut)
    throw failed(
      service,
      `"${engine.name} ${args.slice(0, 2).join(' ')}" did not answer within ${timeoutMs / 1000} s ` +
        `(is the engine hung, or busy with another command? try "${engine.name} info")`,
    );
  return result;
}

/** A field of a local image (`format`, a Go template of `image inspect`), or null when there is no such image. */
export async function inspectImage(
  engine: Engine,
  service: string,
  ref: string,
  format: string,
  signal?: AbortSignal,
): Promise<string | null> {
  const result = await quickCommand(
    engine,
    service,
    ['image', 'inspect', '--format', format, ref],
    undefined,
    signal,
  );
  return result.code === 0 ? result.stdout.trim() : null;
}

/** The `msup.hash` label of a local image, or null when there is no such image. */
export const imageHash = (engine: Engine, service: string, ref: string, signal?: AbortSignal) =>
  inspectImage(engine, service, ref, '{{index .Config.Labels "msup.hash"}}', signal);

/** Local images with a label (one filter: podman 4 ORs several). */
export async function imagesWith(
  engine: Engine,
  service: string,
  label: string,
  value: string,
  signal?: AbortSignal,
): Promise<string[]> {
  const result = await quickCommand(
    engine,
    service,
    ['images', '--filter', `label=${label}=${value}`, '--format', '{{.Repository}}:{{.Tag}}'],
    undefined,
    signal,
  );
  if (result.code !== 0) return [];
  return result.stdout.split('\n').filter((line) => line.trim() !== '' && !line.includes('<none>'));
}

const labelArgs = (flag: string, labels: Record<string, string>) =>
  Object.entries(labels).flatMap(([k, v]) => [flag, `${k}=${v}`]);

/**
 * The temporary folders an image is made in (`msup-import-<pid>-…`, `msup-image-<pid>-…`, named after the
 * msup that made them), removed once the image is made. An msup killed meanwhile leaves one, the import's as
 * large as the image (100 MB for a minimal image with node): the next start that runs containers removes
 * those of msups that are gone.
 */
const SCRATCH = /^msup-(?:import|image)-(?<pid>\d+)-/;

/**
 * How old a folder of the temporary folder must be to be taken for a leftover. The temporary folder may
 * be shared with an msup in another pid namespace (a container, a CI job), whose pid is not seen from
 * here, so is taken for gone: its import, which takes seconds, is done long before.
 */
const SCRATCH_MIN_AGE_MS = 60 * 60 * 1000;

/** Removes what image builds of msups that are gone left in the temporary folder; answers the paths. */
export function removeScratchLeftovers(tmpdir = os.tmpdir()): string[] {
  return removeLeftovers(tmpdir, SCRATCH, SCRATCH_MIN_AGE_MS).map((name) => path.join(tmpdir, name));
}

export async function importMinimal(
  engine: Engine,
  service: string,
  entries: readonly ImageEntry[],
  cwd: string,
  ref: string,
  labels: Record<string, string>,
  signal?: AbortSignal,
) {
  if (signal?.aborted) throw stoppedBuilding(service);
  const changes = [
    `ENV PATH=${IMAGE_PATH}`,
    `WORKDIR ${cwd}`,
    ...Object.entries(labels).map(([k, v]) => `LABEL ${k}=${JSON.stringify(v)}`),
  ].flatMap((change) => ['--change', change]);
  const tar = Readable.from(tarStream(entries.map((e) => e.entry)));
  // The engine keeps the stream in a file of its temporary folder until it is whole, and a killed import
  // (a file of the folder changed while it was read) leaves that file behind, as large as the image: the
  // import gets a temporary folder of its own, removed once it has ended.
  const scratch = await mkdtemp(path.join(os.tmpdir(), `msup-import-${process.pid}-`));
  let result: Awaited<ReturnType<typeof engineCommand>>;
  try {
    result = await engineCommand(engine, ['import', ...changes, '-', ref], {
      input: tar,
      env: { TMPDIR: scratch },
      ...(signal ? { signal } : {}),
    });
  } catch (cause) {
    if (signal?.aborted) throw stoppedBuilding(service);
    if (cause instanceof FolderChangedError) throw cause; // the caller lists the folder again
    throw failed(service, `could not write the image's files: ${(cause as Error).message}`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  if (signal?.aborted) throw stoppedBuilding(service);
  if (result.code !== 0)
    throw failed(service, `${engine.name} import of ${ref} failed`, result.stderr || result.stdout);
}

/**
 * The ignore file a Containerfile's build reads: the service folder's own rules (`.containerignore` or
 * `.dockerignore`, as msup's hash reads them), then msup's state folder at any depth. `.msup` holds the
 * state, msup's and the services' logs and the mesh CA's key: with the folder as the context, `COPY . /app`
 * put them into the image, which may be exported or pushed. Last, so no `!` exception of the user's brings
 * them back (the last matching line wins).
 */
export function contextIgnore(userRules: string): string {
  return `${userRules}${userRules === '' || userRules.endsWith('\n') ? '' : '\n'}# msup's own state\n.msup\n**/.msup\n`;
}

/** The error of an image build that a stop ended: the start was stopped, nothing failed. */
export function stoppedBuilding(service: string): MsupError {
  return new MsupError('MSUP_STOPPED', `stopped while the image of service "${service}" was being made`, {
    service,
  });
}

/** After a stop, how long a build has to fail its step and remove its containers before it is killed. */
const BUILD_STOP_GRACE_MS = 10_000;
/** How often a stopped build is looked at for a RUN step's processes begun meanwhile. */
const BUILD_STOP_POLL_MS = 100;

/** The pid namespace of a process (`pid:[4026531836]`), or null when it is gone or not readable. */
function pidNamespace(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
}

/** Every process below `root`, nearest first. */
async function descendants(root: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const p of await scanProcesses()) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const found: number[] = [];
  for (let i = -1; i < found.length; i++)
    for (const child of children.get(i < 0 ? root : (found[i] as number)) ?? []) found.push(child);
  return found;
}

const killAll = (pids: readonly number[]) => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
};

/**
 * Ends a `podman build` at a stop. podman killed (SIGTERM and SIGINT too, podman 4.3) leaves its working
 * container (`<base>-working-container`, mounted, seen with `podman ps --external` only) and the RUN
 * step's processes, which live on in their own pid namespace and session until they end (a `RUN sleep
 * 30`: 30 s after msup is gone). Killed instead, those processes fail the step, and podman removes its
 * containers and exits as after any failed RUN: they are killed (each pid namespace's init, with all of
 * it) until podman exits, again and again for a step begun meanwhile. A build still running after the
 * grace (a long COPY or commit) is killed whole; its working container may then be left (nothing tells
 * which of the engine's working containers is this build's: another build may run beside it).
 */
async function endBuild(pid: number, exited: Promise<void>): Promise<void> {
  let done = false;
  void exited.then(() => {
    done = true;
  });
  const own = pidNamespace(pid);
  const deadline = Date.now() + BUILD_STOP_GRACE_MS;
  while (!done && Date.now() < deadline) {
    const below = await descendants(pid);
    killAll(below.filter((p) => own !== null && pidNamespace(p) !== own));
    await Promise.race([exited, new Promise((r) => setTimeout(r, BUILD_STOP_POLL_MS))]);
  }
  if (done) return;
  killAll([pid, ...(await descendants(pid))]);
  await exited;
}

export async function buildContainerfile(
  engine: Engine,
  service: string,
  containerfile: string,
  cwd: string,
  ref: string,
  labels: Record<string, string>,
  ignoreRules: string,
  onProgress: (message: string) => void,
  signal?: AbortSignal,
) {
  if (signal?.aborted) throw stoppedBuilding(service);
  const dir = await mkdtemp(path.join(os.tmpdir(), `msup-image-${process.pid}-`));
  try {
    // podman reads the ignore file it is given instead of the folder's. docker (BuildKit) reads
    // `<Dockerfile>.dockerignore` beside the Dockerfile first: a copy of the Containerfile goes beside it.
    // BuildKit is not forced (DOCKER_BUILDKIT=1 fails on a docker 23+ without buildx, where the legacy
    // builder built before): the legacy builder reads the folder's `.dockerignore` only (docs/runtimes.md).
    let file = containerfile;
    let ignoreArgs: string[] = [];
    const env: Record<string, string> = {};
    if (engine.name === 'podman') {
      const ignoreFile = path.join(dir, 'containerignore');
      await writeFile(ignoreFile, contextIgnore(ignoreRules), { mode: 0o600 });
      ignoreArgs = ['--ignorefile', ignoreFile];
    } else {
      file = path.join(dir, 'Containerfile');
      await copyFile(containerfile, file);
      await writeFile(`${file}.dockerignore`, contextIgnore(ignoreRules), { mode: 0o600 });
    }
    // The end of a stopped build, which goes on after podman's exit (its own removals): awaited before the error.
    let ending: Promise<void> | undefined;
    const result = await engineCommand(
      engine,
      ['build', '-t', ref, '-f', file, ...ignoreArgs, ...labelArgs('--label', labels), cwd],
      {
        onLine: (line) => onProgress(`  ${line}`),
        env,
        ...(signal ? { signal } : {}),
        // docker's engine cancels a build whose client went: only podman's needs ending.
        ...(engine.name === 'podman'
          ? {
              onAbort: (pid: number, exited: Promise<void>) => {
                ending = endBuild(pid, exited);
                return ending;
              },
            }
          : {}),
      },
    );
    if (signal?.aborted) {
      await ending?.catch(() => {});
      throw stoppedBuilding(service);
    }
    if (result.code !== 0)
      throw failed(
        service,
        `${engine.name} build of ${containerfile} failed`,
        result.stderr || result.stdout,
      );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function derive(
  engine: Engine,
  service: string,
  from: string,
  ref: string,
  labels: Record<string, string>,
) {
  const dir = await mkdtemp(path.join(os.tmpdir(), `msup-image-${process.pid}-`));
  try {
    // Named by -f: docker looks for a Dockerfile only, podman for either.
    const file = path.join(dir, 'Containerfile');
    await writeFile(file, `FROM ${from}\n`);
    const pull = engine.name === 'podman' ? ['--pull=never'] : [];
    // No layer to make: a bare FROM takes the engine about a second; longer is a hung engine.
    const result = await quickCommand(
      engine,
      service,
      ['build', ...pull, '-f', file, '-t', ref, ...labelArgs('--label', labels), dir],
      2 * (engine.commandTimeoutMs ?? ENGINE_TIMEOUT_MS),
    );
    if (result.code !== 0)
      throw failed(service, `${engine.name} build of ${ref} from ${from} failed`, result.stderr);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Whether `ref` is named as msup names the image of content `hash`: in an msup repository (`repository`
 * when given, else any `localhost/msup-…`), tagged with the hash's first 12 characters. An image the user
 * built FROM msup's image (or tagged from it) inherits its labels, never this name: it is not msup's.
 */
export function isOwnRef(ref: string, hash: string, repository?: string): boolean {
  const at = ref.lastIndexOf(':');
  const repo = ref.slice(0, at);
  if (hash.length < 12 || ref.slice(at + 1) !== hash.slice(0, 12)) return false;
  return repository === undefined ? /^localhost\/msup-[a-z0-9-]+$/.test(repo) : repo === repository;
}

/**
 * Removes this service's older images (best effort: one still used by a container stays): those of its
 * `repository` tagged by their own content hash, so never an image of the user's that inherited the labels.
 */
export async function pruneOlder(
  engine: Engine,
  labels: Record<string, string>,
  keep: string,
  repository: string,
) {
  const service = labels['msup.service'] as string;
  const project = labels['msup.project'] as string;
  const candidates = (await imagesWith(engine, service, 'msup.project', project)).filter(
    (ref) => ref !== keep && ref.startsWith(`${repository}:`),
  );
  for (const ref of candidates) {
    const owner = await quickCommand(engine, service, [
      'image',
      'inspect',
      '--format',
      '{{index .Config.Labels "msup.service"}} {{index .Config.Labels "msup.hash"}}',
      ref,
    ]);
    const [owned, hash = ''] = owner.stdout.trim().split(' ');
    if (owner.code === 0 && owned === service && isOwnRef(ref, hash, repository))
      await quickCommand(engine, service, ['image', 'rm', ref]);
  }
}
