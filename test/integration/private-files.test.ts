// .msup and everything in it are for msup's user only (0700 folders, 0600 files), log files are never
// opened through a link, and the client talks only to a control socket of its own user's.
import {
  chmodSync,
  lchownSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { controlRequest } from '../../src/control/client.js';
import { isMsupError } from '../../src/errors.js';
import { openPrivate, privateDir } from '../../src/private-files.js';
import type { LogRecord } from '../../src/types.js';
import { waitFor } from '../helpers/processes.js';
import { node, useProject } from '../helpers/project.js';

const project = useProject();
const mode = (file: string) => statSync(file).mode & 0o777;
const NOBODY = 65534;

describe('private files', () => {
  it('makes .msup 0700 and its files 0600, and does not write through a planted link', async () => {
    const p = project();
    const msup = path.join(p.root, '.msup');
    const logs = path.join(msup, 'logs');
    mkdirSync(logs, { recursive: true });
    chmodSync(msup, 0o755);
    chmodSync(logs, 0o755);
    writeFileSync(path.join(logs, 'w.log'), '', { mode: 0o644 });
    chmodSync(path.join(logs, 'w.log'), 0o644);
    const outside = p.write('outside.txt', 'untouched\n');
    symlinkSync(outside, path.join(logs, 'msup.log'));

    const sup = p.create({ config: p.config({ w: { command: node('worker.js'), env: { WORK_MS: '50' } } }) });
    const events: LogRecord[] = [];
    sup.on('log', (record) => events.push(record));
    let lines = 0;
    sup.on('output', () => lines++);
    await sup.start();
    expect(await waitFor(() => lines >= 2)).toBe(true);

    expect(mode(msup)).toBe(0o700);
    expect(mode(logs)).toBe(0o700);
    expect(mode(path.join(logs, 'w.log'))).toBe(0o600);
    expect(readFileSync(path.join(logs, 'w.log'), 'utf8')).toContain('finished job');
    expect(readFileSync(outside, 'utf8')).toBe('untouched\n');
    expect(events.some((e) => e.msg === 'log file error' && /ELOOP/.test(String(e.error)))).toBe(true);
    await sup.stop();
    expect(readFileSync(outside, 'utf8')).toBe('untouched\n');
  });

  it('the commands do not talk to a control socket that belongs to another user', async () => {
    const p = project();
    await p.start({ config: p.config({ w: { command: node('worker.js') } }) });
    const socket = path.join(p.root, '.msup', 'control.sock');
    expect(mode(socket)).toBe(0o600);
    await expect(controlRequest(p.root, { cmd: 'status' })).resolves.toMatchObject({ version: 1 });
    lchownSync(socket, NOBODY, NOBODY);
    try {
      const error = await controlRequest(p.root, { cmd: 'status' }).catch((e: unknown) => e);
      expect(isMsupError(error, 'MSUP_UNSAFE_PATH')).toBe(true);
      expect((error as Error).message).toContain(`belongs to another user (uid ${NOBODY})`);
    } finally {
      lchownSync(socket, process.getuid?.() ?? 0, process.getgid?.() ?? 0);
    }
  });

  it('privateDir and openPrivate refuse links and other users, and narrow what is too open', () => {
    const p = project();
    const open = path.join(p.root, 'open');
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777);
    privateDir(open);
    expect(mode(open)).toBe(0o700);
    const theirs = path.join(p.root, 'theirs');
    mkdirSync(theirs);
    lchownSync(theirs, NOBODY, NOBODY);
    expect(() => privateDir(theirs)).toThrow(expect.objectContaining({ code: 'MSUP_UNSAFE_PATH' }));
    const link = path.join(p.root, 'link');
    symlinkSync(open, link);
    expect(() => privateDir(link)).toThrow(expect.objectContaining({ code: 'MSUP_UNSAFE_PATH' }));
    // A file where the folder should be (a file named .msup), or in its path: said, not a raw EEXIST.
    const file = p.write('.msup', '');
    expect(() => privateDir(file)).toThrow(
      expect.objectContaining({
        code: 'MSUP_UNSAFE_PATH',
        message: expect.stringContaining('is not a folder'),
      }),
    );
    expect(() => privateDir(path.join(file, 'logs'))).toThrow(
      expect.objectContaining({
        code: 'MSUP_UNSAFE_PATH',
        message: expect.stringContaining('a file is in its path'),
      }),
    );

    const target = p.write('target.txt', 'keep\n');
    symlinkSync(target, path.join(p.root, 'file-link'));
    expect(() => openPrivate(path.join(p.root, 'file-link'), 'a')).toThrow(
      expect.objectContaining({ code: 'ELOOP' }),
    );
    const wide = p.write('wide.log', 'x\n');
    chmodSync(wide, 0o644);
    openPrivate(wide, 'a');
    expect(mode(wide)).toBe(0o600);
    openPrivate(path.join(p.root, 'new.log'), 'w');
    expect(mode(path.join(p.root, 'new.log'))).toBe(0o600);
  });
});
