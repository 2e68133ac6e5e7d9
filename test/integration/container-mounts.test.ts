// What a container sees of the project folder msup mounts into it (`container.mount`), on a real engine.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatStatus } from '../../src/cli/format-status.js';
import { prepareConfig } from '../../src/config/load.js';
import type { LogRecord } from '../../src/index.js';
import { detectEngine } from '../../src/runtime/container/engine.js';
import { ensureImage } from '../../src/runtime/container/image.js';
import type { ResolvedService, ServiceConfig } from '../../src/types.js';
import { podmanMissing, projectContainers, removeProjectImages } from '../helpers/engines.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { useProject } from '../helpers/project.js';

const newProject = useProject();
const missing = podmanMissing();

/** Serves the text of the file `FILE` names (read at each request, so from the mount, not the image). */
const SERVE_FILE =
  "require('node:http').createServer((_, res) => res.end(require('node:fs').readFileSync(process.env.FILE, 'utf8')))" +
  ".listen(Number(process.env.PORT), '127.0.0.1');\n";

/** Serves what it finds of the project's `.msup` (its cwd is the project folder): entries, a write, the socket. */
const PROBE_MSUP = `
const fs = require('node:fs');
const net = require('node:net');
const seen = {};
try { seen.entries = fs.readdirSync('.msup'); } catch (error) { seen.entries = error.code; }
try { fs.writeFileSync('.msup/state.json', '{}'); seen.write = 'written'; } catch (error) { seen.write = error.code; }
const socket = net.connect('.msup/control.sock');
const serve = (how) => {
  seen.socket = how;
  socket.destroy();
  require('node:http').createServer((_, res) => res.end(JSON.stringify(seen))).listen(Number(process.env.PORT), '127.0.0.1');
};
socket.on('connect', () => serve('connected'));
socket.on('error', (error) => serve(error.code));
`;

describe.skipIf(missing !== undefined)('the project folder in a container', () => {
  const roots: string[] = [];
  afterAll(() => {
    for (const root of roots) removeProjectImages(root);
  });

  it('mounts a project folder whose path has a colon in it, read-only or writable', {
    timeout: 180_000,
  }, async () => {
    const p = newProject();
    // The engine splits a `Binds` string (SRC:DST:ro) at each colon: every create failed.
    const root = path.join(p.root, 'a:b');
    roots.push(root);
    mkdirSync(root);
    writeFileSync(path.join(root, 'serve.js'), SERVE_FILE);
    // Writes a file into the project folder (through a writable mount), then serves.
    writeFileSync(
      path.join(root, 'write.js'),
      `require('node:fs').writeFileSync('written.txt', 'from the container');\n${SERVE_FILE}`,
    );
    const service = (over: Partial<ServiceConfig>, env: Record<string, string>): ServiceConfig => ({
      command: ['node', 'serve.js'],
      runtime: 'container',
      port: 0,
      restart: 'never',
      ...over,
      env,
    });
    const sup = await p.start({
      cwd: root,
      config: p.config({
        ro: service({}, { FILE: path.join(root, 'shown.txt') }),
        rw: service({ command: ['node', 'write.js'], container: { mount: 'rw' } }, { FILE: 'written.txt' }),
      }),
    });
    // Written after the image was made: seen through the mount.
    writeFileSync(path.join(root, 'shown.txt'), 'from the host');
    expect((await request(sup.url('ro'))).body).toBe('from the host');
    expect((await request(sup.url('rw'))).body).toBe('from the container');
    expect(readFileSync(path.join(root, 'written.txt'), 'utf8')).toBe('from the container');
    const mounted = (service: string) => {
      const id = sup.instances(service)[0]?.id as string;
      const out = execFileSync('podman', ['inspect', '--format', '{{json .Mounts}}', id], {
        encoding: 'utf8',
      });
      return (JSON.parse(out) as { Destination: string; RW: boolean }[]).find((m) => m.Destination === root);
    };
    expect(mounted('ro')).toMatchObject({ RW: false });
    expect(mounted('rw')).toMatchObject({ RW: true });
    await sup.stop();
    expect(await waitFor(() => projectContainers(root).length === 0, 10_000)).toBe(true);
  });

  it("hides the project's .msup: its control socket, logs and state", { timeout: 180_000 }, async () => {
    const p = newProject();
    roots.push(p.root);
    p.write('probe.js', PROBE_MSUP);
    const service = (mount: 'ro' | 'rw'): ServiceConfig => ({
      command: ['node', 'probe.js'],
      runtime: 'container',
      port: 0,
      restart: 'never',
      container: { mount },
    });
    const sup = await p.start({ config: p.config({ ro: service('ro'), rw: service('rw') }) });
    const entries = readdirSync(path.join(p.root, '.msup'));
    expect(entries).toContain('state.json');
    expect(entries).toContain('logs');
    for (const name of ['ro', 'rw']) {
      const seen = JSON.parse((await request(sup.url(name))).body) as Record<string, unknown>;
      // An empty folder it may not write to, and no socket to send `stop` or `status` to.
      expect(seen).toEqual({ entries: [], write: 'EROFS', socket: 'ENOENT' });
    }
    expect(JSON.parse(readFileSync(path.join(p.root, '.msup', 'state.json'), 'utf8'))).toHaveProperty('pid');
    expect(sup.instances('ro')[0]?.state).toBe('running');
    await sup.stop();
    expect(await waitFor(() => projectContainers(p.root).length === 0, 10_000)).toBe(true);
  });

  it("runs in the image's WORKDIR when the folder is not mounted and the image is the user's", {
    timeout: 180_000,
  }, async () => {
    const p = newProject();
    roots.push(p.root);
    // Says where it runs.
    const serveCwd =
      "require('node:http').createServer((_, res) => res.end(process.cwd())).listen(Number(process.env.PORT), '127.0.0.1');\n";
    p.write('base/app.js', serveCwd);
    p.write('built/app.js', serveCwd);
    // No registry here: the base is a minimal image msup makes, whose WORKDIR is its folder's path.
    const engine = await detectEngine('podman');
    const baseService = prepareConfig(
      { services: { base: { command: 'node app.js', cwd: 'base' } } },
      p.root,
      null,
    ).services[0] as ResolvedService;
    const base = await ensureImage(engine, baseService, p.root, () => {});
    p.write('built/Containerfile', `FROM ${base.ref}\nWORKDIR /srv\nCOPY app.js /srv/app.js\n`);
    const service = (over: Partial<ServiceConfig>): ServiceConfig => ({
      command: ['node', 'app.js'],
      runtime: 'container',
      port: 0,
      restart: 'never',
      ...over,
    });
    const sup = await p.start({
      config: p.config({
        // The host's cwd (the project folder) is not in these containers: it was made, empty, and ran there.
        given: service({ container: { image: base.ref, mount: false } }),
        built: service({ cwd: 'built', container: { mount: false } }),
      }),
    });
    expect((await request(sup.url('given'))).body).toBe(path.join(p.root, 'base'));
    expect((await request(sup.url('built'))).body).toBe('/srv');
    await sup.stop();
    expect(await waitFor(() => projectContainers(p.root).length === 0, 10_000)).toBe(true);
  });

  it('says a container removed outside msup was removed, not that it could not start', {
    timeout: 180_000,
  }, async () => {
    const p = newProject();
    roots.push(p.root);
    p.write(
      'serve.js',
      "require('node:http').createServer((_, res) => res.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');\n",
    );
    const sup = p.create({
      config: p.config({
        web: { command: ['node', 'serve.js'], runtime: 'container', port: 0, restart: 'never' },
      }),
    });
    const records: LogRecord[] = [];
    sup.on('log', (r) => records.push(r));
    await sup.start();
    const id = sup.instances('web')[0]?.id as string;
    execFileSync('podman', ['rm', '--force', '--time', '0', id], { stdio: 'ignore' });
    expect(await waitFor(() => sup.instances('web')[0]?.state === 'exited', 60_000)).toBe(true);
    const lastExit = sup.instances('web')[0]?.lastExit;
    expect(lastExit).toMatchObject({ code: null, signal: null, reason: 'removed outside msup' });
    expect(lastExit).not.toHaveProperty('error');
    expect(records.find((r) => r.msg === 'exited')).toMatchObject({ reason: 'removed outside msup' });
    const table = formatStatus(await sup.status());
    expect(table).toContain('removed outside msup');
    expect(table).not.toContain('could not start');
    await sup.stop();
    expect(await waitFor(() => projectContainers(p.root).length === 0, 10_000)).toBe(true);
  });
});
