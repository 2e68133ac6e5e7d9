// A project path too long for a unix socket puts the control socket in a folder only the user can
// write ($XDG_RUNTIME_DIR/msup, else <tmpdir>/msup-<uid>), never at a name in /tmp that another user
// could bind first; a folder or socket of another user's is refused by msup start and by the commands.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lchownSync, mkdirSync, statSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { fixture, type Project, useProject } from '../helpers/project.js';

const project = useProject();
const NOBODY = 65534;
const uid = process.getuid?.() ?? 0;

/** A project folder deep enough that <folder>/.msup/control.sock is past 100 bytes. */
function longProject(p: Project) {
  const folder = path.join(p.root, 'a'.repeat(90));
  mkdirSync(folder, { recursive: true });
  p.write(
    path.join('a'.repeat(90), 'supervisor.config.json'),
    JSON.stringify(p.config({ w: { command: ['node', fixture('worker.js')] } })),
  );
  const hash = createHash('sha256').update(folder).digest('hex').slice(0, 16);
  const tmp = path.join(p.root, 'tmp');
  mkdirSync(tmp, { recursive: true });
  return { folder, hash, tmp };
}

/** Another user's server on a socket path: answers every line with a made-up status. */
async function squat(p: Project, socketPath: string) {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.on('error', () => {});
    socket.on('data', () =>
      socket.write(`${JSON.stringify({ v: 1, id: 1, ok: true, result: { version: 1, made: 'up' } })}\n`),
    );
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  lchownSync(socketPath, NOBODY, NOBODY);
  p.onCleanup(() => new Promise((resolve) => server.close(() => resolve())));
  return { connections: () => connections };
}

async function finish(run: ReturnType<typeof runCli>) {
  const exit = await run.exited;
  return { code: exit.code, out: run.stdout(), err: run.stderr() };
}

describe('the control socket of a long project path', () => {
  it('lives in a 0700 folder of the user (XDG_RUNTIME_DIR, else the temp folder)', async () => {
    const p = project();
    const { folder, hash, tmp } = longProject(p);
    const env = { TMPDIR: tmp, XDG_RUNTIME_DIR: '' };
    const run = runCli(p, ['start'], { cwd: folder, env });
    await run.waitForOutput(/all services ready/);
    const socket = path.join(tmp, `msup-${uid}`, `${hash}.sock`);
    expect(statSync(path.dirname(socket)).mode & 0o777).toBe(0o700);
    expect(statSync(socket).isSocket()).toBe(true);
    expect(existsSync(path.join(tmp, `msup-${hash}.sock`))).toBe(false);
    expect((await finish(runCli(p, ['status'], { cwd: folder, env }))).code).toBe(0);
    expect((await finish(runCli(p, ['stop'], { cwd: folder, env }))).code).toBe(0);
    expect((await run.exited).code).toBe(0);

    const runtime = path.join(p.root, 'run');
    mkdirSync(runtime, { mode: 0o700 });
    const xdg = { TMPDIR: tmp, XDG_RUNTIME_DIR: runtime };
    const again = runCli(p, ['start'], { cwd: folder, env: xdg });
    await again.waitForOutput(/all services ready/);
    expect(statSync(path.join(runtime, 'msup', `${hash}.sock`)).isSocket()).toBe(true);
    expect((await finish(runCli(p, ['status'], { cwd: folder, env: xdg }))).code).toBe(0);
    expect((await finish(runCli(p, ['stop'], { cwd: folder, env: xdg }))).code).toBe(0);
  });

  it('is found through a symlink to the project, short or long (the socket is named by the real path)', async () => {
    const p = project();
    const { folder, tmp } = longProject(p);
    const env = { TMPDIR: tmp, XDG_RUNTIME_DIR: '' };
    // A short link (its in-project path would fit a socket) and a long one (hashed, but by another path).
    const short = path.join(p.root, 'l');
    symlinkSync(folder, short);
    const long = path.join(p.root, 'b'.repeat(90));
    symlinkSync(folder, long);
    const run = runCli(p, ['start'], { cwd: folder, env });
    await run.waitForOutput(/all services ready/);
    for (const link of [short, long]) {
      const config = path.join(link, 'supervisor.config.json');
      const status = await finish(runCli(p, ['status', '-c', config], { env }));
      expect(status.err).toBe('');
      expect(status.code).toBe(0);
    }
    expect(
      (await finish(runCli(p, ['stop', '-c', path.join(long, 'supervisor.config.json')], { env }))).code,
    ).toBe(0);
    expect((await run.exited).code).toBe(0);

    // Started through a link, found by the real path.
    const again = runCli(p, ['start'], { cwd: short, env });
    await again.waitForOutput(/all services ready/);
    expect((await finish(runCli(p, ['status'], { cwd: folder, env }))).code).toBe(0);
    expect((await finish(runCli(p, ['stop'], { cwd: folder, env }))).code).toBe(0);
    expect((await again.exited).code).toBe(0);
  });

  it('refuses a folder or socket that another user holds, and never talks to it', async () => {
    const p = project();
    const { folder, hash, tmp } = longProject(p);
    const env = { TMPDIR: tmp, XDG_RUNTIME_DIR: '' };
    // Another user got there first: the fallback folder (open to all), and the old predictable name.
    const theirs = path.join(tmp, `msup-${uid}`);
    mkdirSync(theirs);
    chmodSync(theirs, 0o777);
    const inFolder = await squat(p, path.join(theirs, `${hash}.sock`));
    const oldName = await squat(p, path.join(tmp, `msup-${hash}.sock`));
    lchownSync(theirs, NOBODY, NOBODY);

    const status = await finish(runCli(p, ['status', '--json'], { cwd: folder, env }));
    expect(status.code).toBe(1);
    expect(status.err).toContain('[MSUP_UNSAFE_PATH]');
    expect(status.out).not.toContain('made');

    const start = await finish(runCli(p, ['start', '--wait', '10s'], { cwd: folder, env }));
    expect(start.code).toBe(1);
    expect(start.err).toMatch(/belongs to another user \(uid 65534\)[\s\S]*\[MSUP_UNSAFE_PATH\]/);
    expect(inFolder.connections()).toBe(0);
    expect(oldName.connections()).toBe(0);
  });

  it('fails msup start with a coded error when every place for the socket is too long', async () => {
    const p = project();
    const { folder } = longProject(p);
    const tmp = path.join(p.root, 'b'.repeat(100));
    mkdirSync(tmp);
    const start = await finish(
      runCli(p, ['start', '--wait', '10s'], { cwd: folder, env: { TMPDIR: tmp, XDG_RUNTIME_DIR: '' } }),
    );
    expect(start.code).toBe(1);
    expect(start.err).toMatch(/control socket's path \S+ is \d+ bytes, too long for a unix socket/);
    expect(start.err).toContain('set TMPDIR or XDG_RUNTIME_DIR to a shorter folder');
    expect(start.err).toContain('[MSUP_UNSAFE_PATH]');
    expect(start.err).not.toContain('unexpected error');
  });
});
