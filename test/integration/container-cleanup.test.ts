// What msup removes of the engine's, on a real podman: its own containers with their anonymous volumes,
// and never a container the user ran from msup's image (it inherits the image's msup labels).
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareConfig } from '../../src/config/load.js';
import type { RuntimeHost } from '../../src/contract.js';
import { type Engine, engineCommand } from '../../src/runtime/container/engine.js';
import { ensureImage } from '../../src/runtime/container/image.js';
import { containerRuntime } from '../../src/runtime/container/runtime.js';
import { projectId } from '../../src/runtimes.js';
import type { ResolvedService } from '../../src/types.js';
import { needsPodman, projectContainers, removeProjectImages, useEngineCleanup } from '../helpers/engines.js';
import { fixture, useProject } from '../helpers/project.js';

let engine: Engine | undefined;
let skipReason = '';
let app = '';
let base = '';
beforeAll(async () => {
  const found = await needsPodman();
  engine = found.engine;
  skipReason = found.skip ?? '';
  app = mkdtempSync(path.join(os.tmpdir(), 'msup-cleanup-app-'));
  copyFileSync(fixture('behave.js'), path.join(app, 'behave.js'));
  if (!engine) return;
  const svc = prepareConfig({ services: { web: { command: 'node behave.js' } } }, app, null)
    .services[0] as ResolvedService;
  base = (await ensureImage(engine, svc, app)).ref;
}, 180_000);
afterAll(() => {
  if (engine) removeProjectImages(app);
  rmSync(app, { recursive: true, force: true });
});
const cleanup = useEngineCleanup(() => engine);
const newProject = useProject();

const podman = (args: string[]) => engineCommand(engine as Engine, args, { timeoutMs: 60_000 });
const exists = async (name: string) => (await podman(['container', 'exists', name])).code === 0;

describe('what msup removes', { timeout: 180_000 }, () => {
  it("reaps a crashed run's containers, not one the user ran from msup's image", async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    const project = projectId(app);
    const label = cleanup.label();
    const suffix = label.slice(0, 6);
    // The user's: from msup's image, so labelled msup.project and msup.service (inherited).
    const user = `user-debug-${suffix}`;
    // msup's, as a crashed run leaves it: its name and its msup.index label.
    const own = `msup-${project}-web-0-${suffix}`;
    // Named like msup's but without msup.index (never made by msup): left alone too.
    const lookalike = `msup-${project}-web-1-${suffix}`;
    for (const [name, extra] of [
      [user, []],
      [own, ['--label', 'msup.index=0']],
      [lookalike, []],
    ] as const)
      expect(
        (await podman(['create', '--name', name, '--label', `msup.test=${label}`, ...extra, base, 'true']))
          .code,
      ).toBe(0);
    const labels = await podman(['inspect', '--format', '{{index .Config.Labels "msup.project"}}', user]);
    expect(labels.stdout.trim()).toBe(project);

    // reap also sweeps the temporary folder of crashed runs' image builds and logs what it removed.
    const host = { project, log: () => {} } as unknown as RuntimeHost;
    const reaped = await containerRuntime.reap([], host);
    expect(reaped).toEqual([{ service: 'web', index: 0, what: `container ${own}` }]);
    expect(await exists(own)).toBe(false);
    expect(await exists(user)).toBe(true);
    expect(await exists(lookalike)).toBe(true);
  });

  it("removes a container's anonymous volumes (an image's VOLUME) with it", async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    const label = cleanup.label();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msup-volume-'));
    const image = cleanup.image(`localhost/msup-test-volume-${label.slice(0, 8)}:1`);
    try {
      writeFileSync(path.join(dir, 'Containerfile'), `FROM ${base}\nVOLUME /data\n`);
      const built = await podman([
        'build',
        '--pull=never',
        '--label',
        `msup.test=${label}`,
        '-t',
        image,
        dir,
      ]);
      expect(built.code, built.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const p = newProject();
    const sup = await p.start({
      config: p.config({
        web: {
          command: ['node', 'behave.js'],
          cwd: app,
          instances: 2,
          port: 0,
          runtime: { container: { image } },
        },
      }),
    });
    const names = projectContainers(p.root);
    expect(names).toHaveLength(2);
    const volumes: string[] = [];
    for (const name of names) {
      const mounts = await podman([
        'inspect',
        '--format',
        '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}',
        name,
      ]);
      volumes.push(...mounts.stdout.trim().split(' ').filter(Boolean));
    }
    expect(volumes).toHaveLength(2);
    await sup.stop();
    expect(projectContainers(p.root)).toEqual([]);
    const left: string[] = [];
    for (const volume of volumes)
      if ((await podman(['volume', 'exists', volume])).code === 0) left.push(volume);
    if (left.length > 0) await podman(['volume', 'rm', '--force', ...left]);
    expect(left).toEqual([]);
  });
});
