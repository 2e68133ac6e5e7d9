// The image a service's containers run: `container.image` as given, else built here without any registry,
// from the service folder's Containerfile/Dockerfile or as a minimal image (node, sh, the folder); cached
// by a content hash of every input and rebuilt only when one changes.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ResolvedService } from '../../types.js';
import { baseImageIds, baseImages } from './base-images.js';
import {
  contentHash,
  HashCache,
  type ImageEntry,
  walkFolder,
  withoutFiles,
  withParents,
} from './content-hash.js';
import type { Engine } from './engine.js';
import { EXPORT_MARK, parseIgnore } from './ignore.js';
import {
  buildContainerfile,
  derive,
  failed,
  imageHash,
  imagesWith,
  importMinimal,
  inspectImage,
  isOwnRef,
  pruneOlder,
  stoppedBuilding,
} from './image-build.js';
import { danglingLinks } from './image-links.js';
import { baseEntries, IMAGE_PATH } from './minimal-image.js';
import { FolderChangedError } from './tar.js';

export type ImageKind = 'given' | 'containerfile' | 'minimal';

export interface EnsuredImage {
  /** The image reference to run. */
  ref: string;
  /** Whether it was built (or derived) by this call; false when it was there already. */
  built: boolean;
  kind: ImageKind;
}

/** Bumped when the way images are made changes, so older images are not taken for current ones. */
const FORMAT = 'msup-image-1';
const CONTAINERFILES = ['Containerfile', 'Dockerfile'];
const IGNORE_FILES = ['.containerignore', '.dockerignore'];

/** The label that ties images (and containers) to one project: a short hash of its folder (as `projectId`). */
export function projectLabel(root: string): string {
  return createHash('sha256').update(path.resolve(root)).digest('hex').slice(0, 10);
}

/** `web` → `msup-web`; a name that is not a valid repository name is lowered and suffixed with a short hash. */
export function imageRepository(service: string): string {
  const safe =
    service
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'service';
  if (safe === service) return `localhost/msup-${safe}`;
  return `localhost/msup-${safe}-${createHash('sha256').update(service).digest('hex').slice(0, 6)}`;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

// One image build at a time per project in this process: services sharing a folder then share one build.
const locks = new Map<string, Promise<unknown>>();
function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = locks.get(key) ?? Promise.resolve();
  const next = previous.then(fn, fn);
  const settled = next.catch(() => {});
  locks.set(key, settled);
  void settled.then(() => {
    if (locks.get(key) === settled) locks.delete(key);
  });
  return next;
}

/** The first of `names` that exists in `dir`, or null. */
const firstIn = (dir: string, names: readonly string[]) =>
  names.map((n) => path.join(dir, n)).find((file) => existsSync(file)) ?? null;

/** What happens while an image is made; `warn` for what the user should look at. */
export type ImageProgress = (message: string, level?: 'info' | 'warn') => void;

/** Links listed by name in a warning, at most. */
const LINKS_NAMED = 3;

/**
 * Makes sure the image for `service` exists on `engine`, building it when needed; `root` is the project
 * folder (labels, and the hash cache in `.msup/images/`). `onProgress` tells what happens. `signal` is
 * msup's stop: a build under way is ended, none begins, and the promise rejects with MSUP_STOPPED.
 */
export function ensureImage(
  engine: Engine,
  service: ResolvedService,
  root: string,
  onProgress: ImageProgress = () => {},
  signal?: AbortSignal,
): Promise<EnsuredImage> {
  const given = service.container.image;
  if (given) return ensureGiven(engine, service.name, given, signal);
  const project = path.resolve(root);
  return serialized(project, async () => {
    // A file saved by an editor (or a build tool) while the image was made: the folder is listed and
    // hashed again, once; the image holds one state of the folder, and its label that state's hash.
    for (let attempt = 1; ; attempt++) {
      try {
        // A build queued behind another (the lock) or hashed again: a stop meanwhile begins none.
        if (signal?.aborted) throw stoppedBuilding(service.name);
        return await ensureBuilt(engine, service, project, onProgress, signal);
      } catch (error) {
        if (!(error instanceof FolderChangedError)) throw error;
        if (attempt === 2) {
          const rel = path.relative(service.cwd, error.file);
          const inFolder = rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
          throw failed(
            service.name,
            `could not make the image: ${error.message}, twice in a row (${
              inFolder
                ? 'is something writing in the folder? list what it writes in .containerignore'
                : "a file of the image's base, from the host: is something updating it?"
            })`,
          );
        }
        onProgress(`${error.message}: hashing the folder again`);
      }
    }
  });
}

/** The engine's id of image `ref`, or null when it has none. */
const imageId = (engine: Engine, service: string, ref: string, signal?: AbortSignal) =>
  inspectImage(engine, service, ref, '{{.Id}}', signal);

async function ensureGiven(
  engine: Engine,
  service: string,
  ref: string,
  signal: AbortSignal | undefined,
): Promise<EnsuredImage> {
  if ((await imageId(engine, service, ref, signal)) !== null) return { ref, built: false, kind: 'given' };
  throw failed(
    service,
    `the image "${ref}" (container.image) is not on this machine (${engine.name} image inspect found none). ` +
      `msup does not pull images (many machines reach no registry): pull or build it first ` +
      `(${engine.name} pull ${ref}), or remove container.image and msup builds one from the service folder`,
  );
}

async function ensureBuilt(
  engine: Engine,
  service: ResolvedService,
  root: string,
  onProgress: ImageProgress,
  signal: AbortSignal | undefined,
): Promise<EnsuredImage> {
  const cwd = service.cwd;
  const containerfile = firstIn(cwd, CONTAINERFILES);
  const kind: ImageKind = containerfile ? 'containerfile' : 'minimal';
  // The engines read an ignore file beside the Containerfile first (`Containerfile.containerignore`, then
  // `.dockerignore`), then the folder's: msup hands its rules on to the build (with `.msup` added), so it
  // reads them in the same order, or a file a user left out there would go into the image.
  const beside = containerfile
    ? [`${path.basename(containerfile)}.containerignore`, `${path.basename(containerfile)}.dockerignore`]
    : [];
  const ignoreFile = firstIn(cwd, [...beside, ...IGNORE_FILES]);
  const ignoreRules = ignoreFile ? await readFile(ignoreFile, 'utf8') : '';
  const rules = parseIgnore(ignoreRules);

  const started = performance.now();
  onProgress(
    `hashing the inputs of ${service.name}'s image (${kind === 'minimal' ? 'node, sh and ' : ''}${cwd})`,
  );
  // One cache per folder: the services that share a folder (the demo's three) share its hashes.
  const cacheName = createHash('sha256').update(cwd).digest('hex').slice(0, 12);
  const cache = await HashCache.open(path.join(root, '.msup', 'images', `hashes-${cacheName}.json`));
  const folder = await withoutExports(await walkFolder(cwd, rules), cwd);
  const entries = withParents(kind === 'minimal' ? [...(await baseEntries()), ...folder] : folder);
  if (kind === 'minimal') warnDangling(entries, cwd, onProgress);
  // A Containerfile's own content counts even where the ignore file leaves it out of the folder's (the
  // engine reads it all the same; a .dockerignore that lists the Dockerfile is common).
  let settings = `workdir=${cwd} path=${IMAGE_PATH}`;
  if (containerfile) {
    const text = await readFile(containerfile);
    const bases = await baseImageIds(baseImages(text.toString('utf8')), (ref) =>
      imageId(engine, service.name, ref, signal),
    );
    // `context-1`: the context leaves out .msup (contextIgnore); an image of an older context, which may
    // hold msup's private files, is not taken for this one.
    settings = `containerfile=${containerfile} ${createHash('sha256').update(text).digest('hex')} from ${bases} context-1`;
  }
  const hash = await contentHash(entries, cache, `${FORMAT} ${kind} ${settings}`);
  await cache.save().catch(() => {});
  const files = entries.filter((e) => e.entry.type === 'file').length;
  const bytes = entries.reduce((sum, e) => sum + (e.entry.type === 'file' ? e.entry.size : 0), 0);
  onProgress(
    `hashed ${files} files (${mb(bytes)}; ${mb(cache.bytesRead)} read, ${cache.hits} unchanged since the last hash) in ${seconds(performance.now() - started)}`,
  );

  const ref = `${imageRepository(service.name)}:${hash.slice(0, 12)}`;
  const labels = { 'msup.project': projectLabel(root), 'msup.service': service.name, 'msup.hash': hash };
  if ((await imageHash(engine, service.name, ref, signal)) === hash) {
    onProgress(`image ${ref} is up to date`);
    return { ref, built: false, kind };
  }
  // Hashing a large folder takes seconds: a stop that came meanwhile builds nothing.
  if (signal?.aborted) throw stoppedBuilding(service.name);
  const building = performance.now();
  // msup's own image of this content (another service's), not one the user built FROM it (same labels).
  const twin = (await imagesWith(engine, service.name, 'msup.hash', hash, signal)).find((found) =>
    isOwnRef(found, hash),
  );
  if (twin) {
    // Another service of the same folder has this content: a new image with its own labels, no new layer.
    onProgress(`image ${ref}: same content as ${twin}, labelled for ${service.name}`);
    if (signal?.aborted) throw stoppedBuilding(service.name);
    await derive(engine, service.name, twin, ref, labels);
  } else if (containerfile) {
    onProgress(`building ${ref} from ${containerfile}`);
    await buildContainerfile(
      engine,
      service.name,
      containerfile,
      cwd,
      ref,
      labels,
      ignoreRules,
      onProgress,
      signal,
    );
  } else {
    onProgress(`building ${ref}: a minimal image of ${files} files (${mb(bytes)})`);
    await importMinimal(engine, service.name, entries, cwd, ref, labels, signal);
  }
  onProgress(`built ${ref} in ${seconds(performance.now() - building)}`);
  // Best effort: the image is built; an engine slow to list or remove old ones does not fail the start.
  await pruneOlder(engine, labels, ref, imageRepository(service.name)).catch((error: Error) =>
    onProgress(`older images of ${service.name} not removed: ${error.message}`),
  );
  return { ref, built: true, kind };
}

/**
 * The entries of folder `top` without the files `msup export` wrote (YAML files that begin with its mark),
 * nor the folders that held only such files (`--out deploy`, created by the export).
 */
async function withoutExports(entries: readonly ImageEntry[], top: string): Promise<ImageEntry[]> {
  const generated = await Promise.all(
    entries.map(async ({ entry }) => {
      if (entry.type !== 'file' || !/\.ya?ml$/.test(entry.path) || entry.size < EXPORT_MARK.length)
        return false;
      const file = await open(entry.path, 'r').catch(() => null);
      if (!file) return false;
      try {
        const head = Buffer.alloc(EXPORT_MARK.length);
        await file.read(head, 0, head.length, 0);
        return head.toString('latin1') === EXPORT_MARK;
      } finally {
        await file.close();
      }
    }),
  );
  return withoutFiles(entries, new Set(entries.filter((_, i) => generated[i]).map((e) => e.entry.path)), top);
}

/** Says which links of the folder will not resolve in the minimal image (every start, built or not). */
function warnDangling(entries: readonly ImageEntry[], cwd: string, onProgress: ImageProgress): void {
  const dangling = danglingLinks(
    entries.map((e) => e.entry),
    cwd,
  );
  if (dangling.length === 0) return;
  const named = dangling
    .slice(0, LINKS_NAMED)
    .map((l) => `${path.relative(cwd, l.path)} -> ${l.target}`)
    .join(', ');
  const more = dangling.length > LINKS_NAMED ? ` and ${dangling.length - LINKS_NAMED} more` : '';
  onProgress(
    `${dangling.length} symbolic link${dangling.length === 1 ? '' : 's'} of ${cwd} will not resolve in the ` +
      `image (the target is outside the folder, or left out by .containerignore): ${named}${more}; what ` +
      'runs on the host may fail in the container',
    'warn',
  );
}
