// Container tests need a real engine: skipped with the reason where there is none locally, never in CI.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterEach } from 'vitest';
import { detectEngine, type Engine, engineCommand } from '../../src/runtime/container/engine.js';
import { projectId } from '../../src/runtimes.js';

/** The engine's name and reason for not running, when podman is missing here (outside CI). */
let probed: Promise<Engine | string> | undefined;

function probePodman(): Promise<Engine | string> {
  probed ??= detectEngine('podman').catch((error: Error) => error.message);
  return probed;
}

/**
 * Podman for a test file: `{ engine }` once found, or `{ skip }` with the reason (printed once). In CI
 * (`process.env.CI`), a missing podman throws, so the tests fail instead of being skipped.
 */
export async function needsPodman(): Promise<
  { engine: Engine; skip?: undefined } | { engine?: undefined; skip: string }
> {
  const found = await probePodman();
  if (typeof found !== 'string') return { engine: found };
  if (process.env.CI)
    throw new Error(`CI must run the container tests, but podman does not work here:\n${found}`);
  const skip = `podman is not available here, so this container test is skipped: ${found.split('\n')[0]}`;
  console.warn(skip);
  return { skip };
}

/** A label unique to one test, and cleanup of every image and container carrying it, after the test. */
export function useEngineCleanup(engine: () => Engine | undefined) {
  const refs = new Set<string>();
  let label = '';
  afterEach(async () => {
    const current = engine();
    if (!current) return;
    if (label) {
      const containers = await engineCommand(current, ['ps', '-aq', '--filter', `label=msup.test=${label}`]);
      const ids = containers.stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await engineCommand(current, ['rm', '-f', '-v', ...ids]);
    }
    for (const ref of refs) await engineCommand(current, ['image', 'rm', '-f', ref]);
    refs.clear();
    label = '';
  });
  return {
    /** A fresh label value for this test's containers. */
    label(): string {
      label ||= randomUUID();
      return label;
    },
    /** Removes this image after the test. */
    image(ref: string): string {
      refs.add(ref);
      return ref;
    },
  };
}

/** Whether the engine has an image by this reference. */
export async function imageExists(engine: Engine, ref: string): Promise<boolean> {
  return (await engineCommand(engine, ['image', 'inspect', '--format', '{{.Id}}', ref])).code === 0;
}

/** Runs a container of `ref` once (removed after), host network; returns its exit code and output. */
export function runOnce(engine: Engine, ref: string, label: string, args: string[], extra: string[] = []) {
  return engineCommand(
    engine,
    ['run', '--rm', '--network', 'host', '--label', `msup.test=${label}`, ...extra, ref, ...args],
    { timeoutMs: 60_000 },
  );
}

/**
 * The same question as needsPodman, answered synchronously for `describe.skipIf` at collection time: why
 * podman cannot run here (printed), or undefined. In CI a missing podman throws instead.
 */
export function podmanMissing(): string | undefined {
  try {
    execFileSync('podman', ['info', '--format', '{{.Version.Version}}'], { stdio: 'pipe', timeout: 20_000 });
    return undefined;
  } catch (error) {
    const why = `podman does not work here (${(error as Error).message.split('\n')[0]})`;
    if (process.env.CI) throw new Error(`CI must run the container tests, but ${why}`);
    console.log(`skipping container tests: ${why}`);
    return why;
  }
}

/** Names of the containers (running or not) labelled with the project of `root`. */
export function projectContainers(root: string): string[] {
  const out = execFileSync(
    'podman',
    ['ps', '--all', '--filter', `label=msup.project=${projectId(root)}`, '--format', '{{.Names}}'],
    { encoding: 'utf8' },
  );
  return out.split('\n').filter(Boolean);
}

/** Removes the images msup built for the project of `root` (tests must not leave them on the engine). */
export function removeProjectImages(root: string): void {
  const ids = execFileSync(
    'podman',
    ['images', '--quiet', '--filter', `label=msup.project=${projectId(root)}`],
    { encoding: 'utf8' },
  )
    .split('\n')
    .filter(Boolean);
  if (ids.length > 0)
    execFileSync('podman', ['image', 'rm', '--force', ...new Set(ids)], { stdio: 'ignore' });
}
