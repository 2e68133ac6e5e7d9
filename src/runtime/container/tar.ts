// A tar stream (POSIX ustar, with pax records for long names) of files read from the host, for an
// engine's `import`: the minimal image's file system without any registry or temporary copy.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';

export type TarEntry =
  | { type: 'dir'; path: string; mode: number; mtime: number }
  /**
   * `source`: the host file whose `size` bytes become the entry's content, or the content itself. With
   * `ctimeMs` (the host file's, when it was listed), the file is looked at again once streamed: a change
   * of the same size shows in its times.
   */
  | {
      type: 'file';
      path: string;
      mode: number;
      mtime: number;
      size: number;
      source: string | Buffer;
      ctimeMs?: number;
    }
  | { type: 'symlink'; path: string; target: string; mtime: number };

const BLOCK = 512;

/** A file listed for the image changed (its size or times) or went away before its bytes were streamed. */
export class FolderChangedError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file} changed while the image was being made (${detail})`);
    this.name = 'FolderChangedError';
  }
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** One pax record: `<length> key=value\n`, where length counts the whole record, itself included. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length)
    length = String(length).length + Buffer.byteLength(body);
  return `${length}${body}`;
}

function header(
  name: string,
  options: { mode: number; size: number; mtime: number; type: string; link?: string },
): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(name, 0, 100, 'utf8');
  block.write(octal(options.mode & 0o7777, 8), 100, 'ascii');
  block.write(octal(0, 8), 108, 'ascii');
  block.write(octal(0, 8), 116, 'ascii');
  block.write(octal(options.size, 12), 124, 'ascii');
  block.write(octal(Math.max(0, Math.floor(options.mtime / 1000)), 12), 136, 'ascii');
  block.write('        ', 148, 'ascii');
  block.write(options.type, 156, 'ascii');
  if (options.link) block.write(options.link, 157, 100, 'utf8');
  block.write('ustar\0', 257, 'ascii');
  block.write('00', 263, 'ascii');
  block.write('root', 265, 'ascii');
  block.write('root', 297, 'ascii');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return block;
}

const padding = (size: number) => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
const MAX_OCTAL_SIZE = 0o77777777777;

/** The headers of one entry: a pax header first when the name, link or size does not fit ustar. */
function headers(entry: TarEntry): Buffer[] {
  const relative = entry.path.replace(/^\/+/, '') + (entry.type === 'dir' ? '/' : '');
  const size = entry.type === 'file' ? entry.size : 0;
  const link = entry.type === 'symlink' ? entry.target : undefined;
  const records: string[] = [];
  if (Buffer.byteLength(relative) > 100) records.push(paxRecord('path', relative));
  if (link !== undefined && Buffer.byteLength(link) > 100) records.push(paxRecord('linkpath', link));
  if (size > MAX_OCTAL_SIZE) records.push(paxRecord('size', String(size)));
  const out: Buffer[] = [];
  if (records.length > 0) {
    const body = Buffer.from(records.join(''), 'utf8');
    out.push(header('PaxHeader', { mode: 0o644, size: body.length, mtime: 0, type: 'x' }));
    out.push(body, padding(body.length));
  }
  const type = entry.type === 'dir' ? '5' : entry.type === 'symlink' ? '2' : '0';
  const mode = entry.type === 'symlink' ? 0o777 : entry.mode;
  out.push(
    header(relative.slice(0, 100), {
      mode,
      size: size > MAX_OCTAL_SIZE ? 0 : size,
      mtime: entry.mtime,
      type,
      ...(link === undefined ? {} : { link: link.slice(0, 100) }),
    }),
  );
  return out;
}

/**
 * The tar of `entries`, block by block; throws FolderChangedError if a file's size changed since it was
 * listed, or the file is gone.
 */
export async function* tarStream(entries: Iterable<TarEntry>): AsyncGenerator<Buffer> {
  for (const entry of entries) {
    yield* headers(entry);
    if (entry.type !== 'file') continue;
    if (Buffer.isBuffer(entry.source)) {
      yield entry.source;
      yield padding(entry.source.length);
      continue;
    }
    let read = 0;
    try {
      for await (const chunk of createReadStream(entry.source)) {
        const bytes = chunk as Buffer;
        read += bytes.length;
        if (read > entry.size) break;
        yield bytes;
      }
    } catch (error) {
      throw removedOr(error, entry.source);
    }
    if (read !== entry.size)
      throw new FolderChangedError(
        entry.source,
        `size ${entry.size}, now ${read > entry.size ? `more than ${entry.size}` : read}`,
      );
    if (entry.ctimeMs !== undefined) await unchangedSince(entry.source, entry.mtime, entry.ctimeMs);
    yield padding(entry.size);
  }
  yield Buffer.alloc(BLOCK * 2);
}

/**
 * Throws FolderChangedError when the file's modification or change time is not what was listed: written
 * while (or after) it was hashed, with the same size, the image would hold bytes its label does not hash.
 */
async function unchangedSince(file: string, mtimeMs: number, ctimeMs: number): Promise<void> {
  const now = await stat(file).catch((error: unknown) => {
    throw removedOr(error, file);
  });
  if (now.mtimeMs !== mtimeMs || now.ctimeMs !== ctimeMs)
    throw new FolderChangedError(file, 'same size, its times changed');
}

/** A read of `file` that failed: FolderChangedError when it is gone, else the error itself. */
function removedOr(error: unknown, file: string): unknown {
  return (error as NodeJS.ErrnoException).code === 'ENOENT' ? new FolderChangedError(file, 'removed') : error;
}
