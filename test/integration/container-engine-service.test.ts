// podman's API service whose folder is removed while it runs (a cleaner of the temporary folder): the next
// call ends it and starts another, in a new private folder, never in one of the old name made by someone
// else. Real podman.
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeHost } from '../../src/contract.js';
import type { Engine } from '../../src/runtime/container/engine.js';
import { ApiUnreachable, EngineApi } from '../../src/runtime/container/engine-api.js';
import { EngineService, serviceFolderBase } from '../../src/runtime/container/engine-service.js';
import { isAlive } from '../../src/runtime/proc.js';
import { needsPodman } from '../helpers/engines.js';
import { waitFor } from '../helpers/processes.js';

let engine: Engine | undefined;
let skipReason = '';
beforeAll(async () => {
  const found = await needsPodman();
  engine = found.engine;
  skipReason = found.skip ?? '';
});

const open: EngineService[] = [];
const made: string[] = [];
afterEach(async () => {
  for (const service of open.splice(0)) await service.close();
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const logged: string[] = [];
const host = {
  root: os.tmpdir(),
  stateDir: os.tmpdir(),
  project: 'test',
  remember: () => () => {},
  guard: () => () => {},
  log: (_level: string, msg: string) => logged.push(msg),
} as unknown as RuntimeHost;

/** The pid of the `podman system service` listening at `socket`. */
function servicePid(socket: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('system\0service') && cmdline.includes(socket)) return Number(entry);
    } catch {}
  }
  return undefined;
}

const ping = async (service: EngineService) => (await (await service.api()).request('GET', '/_ping')).status;

describe("podman's API service folder removed while it runs", { timeout: 60_000 }, () => {
  it('a request that finds no socket says so to its service (which then starts another)', async () => {
    let told = 0;
    const api = new EngineApi(path.join(os.tmpdir(), 'msup-no-such-folder', 'api.sock'), () => told++);
    await expect(api.request('GET', '/_ping')).rejects.toBeInstanceOf(ApiUnreachable);
    expect(told).toBe(1);
    api.close();
  });

  it('is replaced by a new service in a new folder, and the old one ends', async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    const service = new EngineService(engine, host);
    open.push(service);
    const first = await service.api();
    expect(await ping(service)).toBe(200);
    const oldPid = servicePid(first.socket);
    expect(oldPid).toBeDefined();

    const oldDir = path.dirname(first.socket);
    rmSync(oldDir, { recursive: true, force: true });
    // The next call answers through another (the old one's kept-alive connections still work, new ones
    // would fail with ENOENT).
    expect(await ping(service)).toBe(200);
    const second = await service.api();
    expect(path.dirname(second.socket)).not.toBe(oldDir);
    expect(await waitFor(() => !isAlive(oldPid as number), 10_000)).toBe(true);
    expect(logged.join('\n')).toContain('lost its socket');
  });

  it('does not take a folder of the old name that is not its own (a link another user made)', async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    const service = new EngineService(engine, host);
    open.push(service);
    const first = await service.api();
    const oldDir = path.dirname(first.socket);
    const oldPid = servicePid(first.socket) as number;
    rmSync(oldDir, { recursive: true, force: true });
    // Someone else's folder, under the name that `ps` shows; then the service dies (the next call starts
    // another, whatever noticed first).
    const theirs = mkdtempSync(path.join(os.tmpdir(), 'msup-theirs-'));
    made.push(theirs, oldDir);
    symlinkSync(theirs, oldDir);
    process.kill(oldPid, 'SIGKILL');
    expect(await waitFor(() => !isAlive(oldPid), 10_000)).toBe(true);
    expect(await ping(service)).toBe(200);
    const second = await service.api();
    expect(path.dirname(second.socket)).not.toBe(oldDir);
    expect(readdirSync(theirs)).toEqual([]);
    await service.close();
    // close() leaves the link and what it points to alone.
    expect(existsSync(theirs)).toBe(true);
  });
});

describe("podman's API service under a long TMPDIR", { timeout: 60_000 }, () => {
  it('has its folder where the socket fits a unix socket: TMPDIR, else XDG_RUNTIME_DIR, else /tmp', () => {
    const long = `/home/me/${'x'.repeat(80)}`;
    expect(serviceFolderBase({ tmpdir: '/tmp/short' })).toBe('/tmp/short');
    expect(serviceFolderBase({ tmpdir: long, runtimeDir: '/run/user/1000' })).toBe('/run/user/1000');
    expect(serviceFolderBase({ tmpdir: long, runtimeDir: 'relative' })).toBe('/tmp');
    expect(serviceFolderBase({ tmpdir: long, runtimeDir: long })).toBe('/tmp');
    // 100 bytes with the folder and socket names: just too long, as for the control socket.
    const edge = `/${'y'.repeat(100 - 1 - '/msup-podman-XXXXXX/api.sock'.length)}`;
    expect(serviceFolderBase({ tmpdir: edge })).toBe('/tmp');
    expect(serviceFolderBase({ tmpdir: edge.slice(0, -1) })).toBe(edge.slice(0, -1));
  });

  it('starts, with its socket in a short folder, where a long TMPDIR failed with bind: invalid argument', async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    const long = path.join(os.tmpdir(), `msup-long-${'x'.repeat(90)}`);
    mkdirSync(long, { recursive: true });
    made.push(long);
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = long;
    try {
      const service = new EngineService(engine, host);
      open.push(service);
      expect(await ping(service)).toBe(200);
      const api = await service.api();
      expect(Buffer.byteLength(api.socket)).toBeLessThan(100);
      expect(api.socket.startsWith(long)).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  });

  it("passes over an XDG_RUNTIME_DIR that is another user's (after su or sudo -E) for /tmp", async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    if (process.getuid?.() !== 0) return ctx.skip('needs root, to give a folder to another user');
    const long = path.join(os.tmpdir(), `msup-long-${'z'.repeat(90)}`);
    const theirs = mkdtempSync(path.join(os.tmpdir(), 'msup-xdg-'));
    mkdirSync(long, { recursive: true });
    made.push(long, theirs);
    chownSync(theirs, 65534, 65534);
    chmodSync(theirs, 0o700);
    const saved = { tmp: process.env.TMPDIR, xdg: process.env.XDG_RUNTIME_DIR };
    process.env.TMPDIR = long;
    process.env.XDG_RUNTIME_DIR = theirs;
    try {
      const service = new EngineService(engine, host);
      open.push(service);
      expect(await ping(service)).toBe(200);
      const api = await service.api();
      expect(api.socket.startsWith('/tmp/msup-podman-')).toBe(true);
    } finally {
      for (const [key, value] of [
        ['TMPDIR', saved.tmp],
        ['XDG_RUNTIME_DIR', saved.xdg],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});
