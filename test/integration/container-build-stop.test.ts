// A stop ends an image build: a Containerfile's slow RUN step is ended (nothing of the build left: no RUN
// process, no working container), the start ends as stopped, and a stop that comes while the folder is
// hashed builds nothing.
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareConfig } from '../../src/config/load.js';
import type { LogRecord } from '../../src/index.js';
import { type Engine, engineCommand } from '../../src/runtime/container/engine.js';
import { ensureImage, projectLabel } from '../../src/runtime/container/image.js';
import type { ResolvedService } from '../../src/types.js';
import { needsPodman, removeProjectImages } from '../helpers/engines.js';
import { waitFor } from '../helpers/processes.js';
import { useProject } from '../helpers/project.js';

let engine: Engine | undefined;
let skipReason = '';
beforeAll(async () => {
  const found = await needsPodman();
  engine = found.engine;
  skipReason = found.skip ?? '';
});

const newProject = useProject();
const roots: string[] = [];
afterAll(() => {
  for (const root of roots) removeProjectImages(root);
});

/** Live processes whose command line holds `marker`. */
function withMarker(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) found.push(Number(entry));
    } catch {
      // ended while we looked
    }
  }
  return found;
}

/** The engine's working containers (`podman ps --external`) made from image `base`. */
async function workingContainers(base: string): Promise<string[]> {
  const name = `${base.slice(base.lastIndexOf('/') + 1, base.lastIndexOf(':'))}-working-container`;
  const listed = await engineCommand(engine as Engine, [
    'ps',
    '--all',
    '--external',
    '--format',
    '{{.Names}}',
  ]);
  return listed.stdout.split('\n').filter((n) => n.startsWith(name));
}

/** A project whose base image (a minimal one, no registry here) is made first, under a name of its own. */
async function withBase() {
  const project = newProject();
  roots.push(project.root);
  project.write('base/main.js', '');
  const base = prepareConfig(
    { services: { [`base${project.tag.slice(0, 8)}`]: { command: 'node main.js', cwd: 'base' } } },
    project.root,
    null,
  ).services[0] as ResolvedService;
  const image = await ensureImage(engine as Engine, base, project.root);
  return { project, base: image.ref };
}

describe('a stop during an image build', { timeout: 120_000 }, () => {
  it('ends a slow RUN step: the start ends as stopped, and nothing of the build is left', async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    const { project, base } = await withBase();
    const marker = `msup-build-stop-${randomUUID()}`;
    // Ten minutes: only a stop that ends the build lets this test end.
    project.write('Containerfile', `FROM ${base}\nRUN node -e "setTimeout(() => {}, 600000)" ${marker}\n`);
    const sup = project.create({
      config: { services: { app: { command: 'node -e 0', runtime: 'container' } } },
    });
    const logs: LogRecord[] = [];
    sup.on('log', (record) => logs.push(record));
    const started = sup.start().then(
      () => null,
      (error: Error) => error,
    );
    expect(await waitFor(() => withMarker(marker).length > 0, 60_000)).toBe(true);

    await sup.stop();
    expect(await started).toMatchObject({ code: 'MSUP_STOPPED' });
    expect(await waitFor(() => withMarker(marker).length === 0, 10_000)).toBe(true);
    expect(await workingContainers(base)).toEqual([]);
    expect(JSON.stringify(logs)).not.toContain('MSUP_IMAGE_FAILED');
  });

  it('builds nothing when the stop came while the folder was hashed', async (ctx) => {
    if (!engine) return ctx.skip(skipReason);
    const { project, base } = await withBase();
    project.write('Containerfile', `FROM ${base}\nCOPY base /base\n`);
    const app = prepareConfig(
      { services: { app: { command: 'node -e 0', runtime: 'container' } } },
      project.root,
      null,
    ).services[0] as ResolvedService;
    const stop = new AbortController();
    const progress: string[] = [];
    const made = ensureImage(
      engine,
      app,
      project.root,
      (message) => {
        progress.push(message);
        if (message.startsWith('hashed ')) stop.abort();
      },
      stop.signal,
    );
    await expect(made).rejects.toMatchObject({ code: 'MSUP_STOPPED' });
    expect(progress.filter((m) => m.startsWith('building'))).toEqual([]);
    const images = await engineCommand(engine, [
      'images',
      '--filter',
      `label=msup.project=${projectLabel(project.root)}`,
      '--format',
      '{{.Repository}}',
    ]);
    expect(images.stdout.split('\n')).not.toContain('localhost/msup-app');
  });
});
