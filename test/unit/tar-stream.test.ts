// The tar stream of a minimal image reads the host's files as it goes: a file that changed after it was
// listed (its size, or only its bytes and times) or went away stops the stream with FolderChangedError, so
// the image never holds bytes its label does not hash. Real files in a temporary folder.
import { chmodSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FolderChangedError, type TarEntry, tarStream } from '../../src/runtime/container/tar.js';
import { waitFor } from '../helpers/processes.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function listed(content: string): { file: string; entry: TarEntry } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msup-tar-'));
  dirs.push(dir);
  const file = path.join(dir, 'data.txt');
  writeFileSync(file, content);
  const info = statSync(file);
  return {
    file,
    entry: {
      type: 'file',
      path: '/app/data.txt',
      mode: 0o644,
      mtime: info.mtimeMs,
      size: info.size,
      source: file,
      ctimeMs: info.ctimeMs,
    },
  };
}

async function drain(entries: TarEntry[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of tarStream(entries)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('the tar stream of host files', () => {
  it('streams a file that did not change, its bytes after a 512-byte header', async () => {
    const { entry } = listed('before\n');
    const tar = await drain([entry]);
    expect(tar.subarray(512, 519).toString()).toBe('before\n');
    expect(tar.length).toBe(512 * 4); // header, content block, two zero blocks
  });

  it('stops at a file written with the same size after it was listed', async () => {
    const { file, entry } = listed('before\n');
    writeFileSync(file, 'after!\n');
    // The same second on a coarse file system would hide nothing here: ctime moves on every write, and
    // the times are set apart besides, so the check does not hang on the clock's resolution.
    const later = new Date(statSync(file).mtimeMs + 5000);
    utimesSync(file, later, later);
    const error = await drain([entry]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FolderChangedError);
    expect((error as FolderChangedError).message).toBe(
      `${file} changed while the image was being made (same size, its times changed)`,
    );
  });

  it('stops at a file whose change time alone moved (its mode changed, its bytes and mtime did not)', async () => {
    const { file, entry } = listed('before\n');
    // ctime has the kernel's clock: wait until it would show a change, then change only the mode.
    const listedCtime = (entry as Extract<TarEntry, { type: 'file' }>).ctimeMs as number;
    await waitFor(() => Date.now() > listedCtime + 20);
    chmodSync(file, 0o600);
    expect(statSync(file).mtimeMs).toBe(entry.mtime);
    expect(statSync(file).ctimeMs).not.toBe(listedCtime);
    const error = await drain([entry]).catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      `${file} changed while the image was being made (same size, its times changed)`,
    );
  });

  it('stops at a file whose size changed, or that went away', async () => {
    const grown = listed('before\n');
    writeFileSync(grown.file, 'a longer line\n');
    expect(((await drain([grown.entry]).catch((e: unknown) => e)) as Error).message).toContain(
      '(size 7, now more than 7)',
    );
    const gone = listed('soon gone');
    rmSync(gone.file);
    expect(((await drain([gone.entry]).catch((e: unknown) => e)) as Error).message).toContain('(removed)');
  });

  it('does not look again at a file listed without its times (content given in memory or unlisted)', async () => {
    const { file, entry } = listed('before\n');
    const { ctimeMs: _, ...withoutTimes } = entry as Extract<TarEntry, { type: 'file' }>;
    writeFileSync(file, 'after!\n');
    const tar = await drain([withoutTimes]);
    expect(tar.subarray(512, 519).toString()).toBe('after!\n');
  });
});
