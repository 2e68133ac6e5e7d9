// The engine's side of making an image: import the minimal image's tar, build a Containerfile, label a
// copy for another service, find images by label, and remove a service's older images.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { MsupError } from '../../errors.js';
import type { ImageEntry } from './content-hash.js';
import { type Engine, engineCommand } from './engine.js';
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

/** The `msup.hash` label of a local image, or null when there is no such image. */
export async function imageHash(engine: Engine, ref: string): Promise<string | null> {
  const result = await engineCommand(engine, [
    'image',
    'inspect',
    '--format',
    '{{index .Config.Labels "msup.hash"}}',
    ref,
  ]);
  return result.code === 0 ? result.stdout.trim() : null;
}

/** Local images with a label (one filter: podman 4 ORs several). */
export async function imagesWith(engine: Engine, label: string, value: string): Promise<string[]> {
  const result = await engineCommand(engine, [
    'images',
    '--filter',
    `label=${label}=${value}`,
    '--format',
    '{{.Repository}}:{{.Tag}}',
  ]);
  if (result.code !== 0) return [];
  return result.stdout.split('\n').filter((line) => line.trim() !== '' && !line.includes('<none>'));
}

const labelArgs = (flag: string, labels: Record<string, string>) =>
  Object.entries(labels).flatMap(([k, v]) => [flag, `${k}=${v}`]);

export async function importMinimal(
  engine: Engine,
  service: string,
  entries: readonly ImageEntry[],
  cwd: string,
  ref: string,
  labels: Record<string, string>,
) {
  const changes = [
    `ENV PATH=${IMAGE_PATH}`,
    `WORKDIR ${cwd}`,
    ...Object.entries(labels).map(([k, v]) => `LABEL ${k}=${JSON.stringify(v)}`),
  ].flatMap((change) => ['--change', change]);
  const tar = Readable.from(tarStream(entries.map((e) => e.entry)));
  // The engine keeps the stream in a file of its temporary folder until it is whole, and a killed import
  // (a file of the folder changed while it was read) leaves that file behind, as large as the image: the
  // import gets a temporary folder of its own, removed once it has ended.
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'msup-import-'));
  let result: Awaited<ReturnType<typeof engineCommand>>;
  try {
    result = await engineCommand(engine, ['import', ...changes, '-', ref], {
      input: tar,
      env: { TMPDIR: scratch },
    });
  } catch (cause) {
    if (cause instanceof FolderChangedError) throw cause; // the caller lists the folder again
    throw failed(service, `could not write the image's files: ${(cause as Error).message}`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  if (result.code !== 0)
    throw failed(service, `${engine.name} import of ${ref} failed`, result.stderr || result.stdout);
}

export async function buildContainerfile(
  engine: Engine,
  service: string,
  containerfile: string,
  cwd: string,
  ref: string,
  labels: Record<string, string>,
  onProgress: (message: string) => void,
) {
  const result = await engineCommand(
    engine,
    ['build', '-t', ref, '-f', containerfile, ...labelArgs('--label', labels), cwd],
    {
      onLine: (line) => onProgress(`  ${line}`),
    },
  );
  if (result.code !== 0)
    throw failed(service, `${engine.name} build of ${containerfile} failed`, result.stderr || result.stdout);
}

export async function derive(
  engine: Engine,
  service: string,
  from: string,
  ref: string,
  labels: Record<string, string>,
) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msup-image-'));
  try {
    // Named by -f: docker looks for a Dockerfile only, podman for either.
    const file = path.join(dir, 'Containerfile');
    await writeFile(file, `FROM ${from}\n`);
    const pull = engine.name === 'podman' ? ['--pull=never'] : [];
    const result = await engineCommand(engine, [
      'build',
      ...pull,
      '-f',
      file,
      '-t',
      ref,
      ...labelArgs('--label', labels),
      dir,
    ]);
    if (result.code !== 0)
      throw failed(service, `${engine.name} build of ${ref} from ${from} failed`, result.stderr);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Removes this service's older images (best effort: one still used by a container stays). */
export async function pruneOlder(engine: Engine, labels: Record<string, string>, keep: string) {
  const candidates = (await imagesWith(engine, 'msup.project', labels['msup.project'] as string)).filter(
    (ref) => ref !== keep,
  );
  for (const ref of candidates) {
    const owner = await engineCommand(engine, [
      'image',
      'inspect',
      '--format',
      '{{index .Config.Labels "msup.service"}}',
      ref,
    ]);
    if (owner.code === 0 && owner.stdout.trim() === labels['msup.service'])
      await engineCommand(engine, ['image', 'rm', ref]);
  }
}
