// The files of the minimal image besides the service folder: the `node` that runs msup and the libraries
// it links, /bin/sh (for string commands and `sh -c`) and its libraries, `node` on PATH, /tmp, root's account.
import { execFile } from 'node:child_process';
import { realpath, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { MsupError } from '../../errors.js';
import { type ImageEntry, statKey } from './content-hash.js';

const run = promisify(execFile);

/** The image's PATH: node is reachable as `node` through /usr/local/bin. */
export const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The libraries a program links, as `ldd` lists them (the paths the loader looks for). */
export async function linkedLibraries(program: string): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('ldd', [program]));
  } catch (cause) {
    throw new MsupError(
      'MSUP_IMAGE_FAILED',
      `could not list the libraries of ${program} with ldd (${(cause as Error).message}); the minimal image needs ldd (Debian: libc-bin) on Linux`,
      { cause },
    );
  }
  const found: string[] = [];
  for (const line of stdout.split('\n')) {
    // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)`, or `/lib64/ld-linux-x86-64.so.2 (0x...)`.
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (match) found.push(match[1] as string);
  }
  return found;
}

async function hostFile(at: string, from: string): Promise<ImageEntry> {
  const source = await realpath(from);
  const key = await statKey(source);
  const { mode } = await stat(source);
  return {
    entry: { type: 'file', path: at, mode, mtime: key.mtimeMs, size: key.size, source, ctimeMs: key.ctimeMs },
    stat: key,
  };
}

const text = (at: string, content: string, mode = 0o644): ImageEntry => {
  const source = Buffer.from(content);
  return { entry: { type: 'file', path: at, mode, mtime: 0, size: source.length, source } };
};

/** The entries of the minimal image's base: node (`nodePath`, default: the node running msup), sh, their libraries. */
export async function baseEntries(nodePath: string = process.execPath): Promise<ImageEntry[]> {
  const node = await realpath(nodePath);
  const sh = await realpath('/bin/sh');
  const entries: ImageEntry[] = [await hostFile(node, node), await hostFile('/bin/sh', sh)];
  const libraries = new Set([...(await linkedLibraries(node)), ...(await linkedLibraries(sh))]);
  for (const library of libraries) entries.push(await hostFile(library, library));
  if (node !== '/usr/local/bin/node')
    entries.push({ entry: { type: 'symlink', path: '/usr/local/bin/node', target: node, mtime: 0 } });
  entries.push(
    { entry: { type: 'dir', path: '/tmp', mode: 0o1777, mtime: 0 } },
    { entry: { type: 'dir', path: '/root', mode: 0o700, mtime: 0 } },
    text('/etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n'),
    text('/etc/group', 'root:x:0:\nnogroup:x:65534:\n'),
  );
  return entries;
}
