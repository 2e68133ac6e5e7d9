// Container tests need a real engine: skipped with a printed reason where podman does not work locally,
// never in CI (there a missing podman fails the run). And what the engine still holds of a project.
import { execFileSync } from 'node:child_process';
import { projectId } from '../../src/runtimes.js';

/** Why podman cannot run here, or undefined; in CI a missing podman throws instead. */
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
