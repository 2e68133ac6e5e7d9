// Folders and files that only msup's user may read or write (0700 and 0600), opened without following
// links, so another local user can neither read the services' output nor plant a link msup writes
// through. A leaf module, like types.ts and errors.ts: the supervisor, log files, control socket and
// CLI all use it.
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MsupError } from './errors.js';

const uid = (): number | undefined => process.getuid?.();

/**
 * Creates `dir` (and its parents) if needed, then checks that it is a real folder (not a link) owned
 * by this user, and takes away any access of others (chmod 0700). Throws MSUP_UNSAFE_PATH otherwise.
 */
export function privateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // A file in the way is the user's to remove, as a link there is: said so, not an unexpected error.
    if (code === 'ENOTDIR') {
      throw new MsupError(
        'MSUP_UNSAFE_PATH',
        `${dir} cannot be made: a file is in its path where a folder should be; remove it`,
        { cause: error },
      );
    }
    // EEXIST: a file (or a link to one) is at `dir` itself; the check below names it.
    if (code !== 'EEXIST') throw error;
  }
  const stat = lstatSync(dir);
  if (!stat.isDirectory()) {
    throw new MsupError('MSUP_UNSAFE_PATH', `${dir} is not a folder (a link or a file is there); remove it`);
  }
  const me = uid();
  if (me !== undefined && stat.uid !== me) {
    throw new MsupError(
      'MSUP_UNSAFE_PATH',
      `${dir} belongs to another user (uid ${stat.uid}), so msup will not use it; remove it`,
    );
  }
  if ((stat.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

/**
 * msup's private folder `name` in the user's cache folder ($XDG_CACHE_HOME, else ~/.cache): `msup/<name>`,
 * both 0700, made if needed; null where there is no such folder msup may use.
 */
export function userCacheDir(name: string): string | null {
  const home = os.homedir();
  const base = process.env.XDG_CACHE_HOME || (home ? path.join(home, '.cache') : '');
  if (!path.isAbsolute(base)) return null;
  const dir = path.join(base, 'msup', name);
  try {
    privateDir(path.dirname(dir));
    privateDir(dir);
    return dir;
  } catch {
    return null;
  }
}

/** Whether a file belongs to this user (always true where there are no uids). */
export function ownedByMe(owner: number): boolean {
  const me = uid();
  return me === undefined || owner === me;
}

/**
 * Opens a file for appending (`a`) or from empty (`w`), created 0600, never through a symbolic link
 * (ELOOP then). A file that exists with wider access is narrowed to 0600.
 */
export function openPrivate(file: string, mode: 'a' | 'w'): number {
  const { O_WRONLY, O_CREAT, O_APPEND, O_TRUNC, O_NOFOLLOW } = constants;
  const flags = O_WRONLY | O_CREAT | (O_NOFOLLOW ?? 0) | (mode === 'a' ? O_APPEND : O_TRUNC);
  const fd = openSync(file, flags, 0o600);
  try {
    if ((fstatSync(fd).mode & 0o077) !== 0) fchmodSync(fd, 0o600);
  } catch {
    // Narrowing is best effort (a file of another user's that we may write to anyway).
  }
  return fd;
}

/**
 * Writes `content` to a new 0600 file beside `file` (never through a link), flushed to the disk, then
 * renames it over `file`: a reader sees the old content or the new, never a part, even after a crash.
 */
export function replacePrivate(file: string, content: string): void {
  // Named after this process: what a crash leaves here, the next msup removes (runtimes.ts).
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = openPrivate(temp, 'w');
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}
