// A throwaway project per test: its own folder (so its own .msup/ state), a tag in every child's
// environment, supervisors that are always stopped, and a check that no child outlives them.
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { createSupervisor, type StartOptions, type Supervisor } from '../../src/index.js';
import type { MsupConfig, ServiceConfig } from '../../src/types.js';
import { expectNoTaggedProcesses } from './processes.js';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const fixture = (name: string) => path.join(REPO, 'fixtures', name);
export const node = (script: string, ...args: string[]) => [process.execPath, fixture(script), ...args];

export interface Project {
  root: string;
  tag: string;
  /** A config whose every service carries the test tag in its env. */
  config(services: Record<string, ServiceConfig>): MsupConfig;
  /** Writes a file into the project folder; returns its path. */
  write(name: string, content: string): string;
  /** Writes a JSON config (every service tagged) into the project folder. */
  writeConfig(services: Record<string, unknown>, file?: string): string;
  /** Creates a supervisor for this project (stopped after the test). */
  create(options?: StartOptions): Supervisor;
  /** Creates and starts a supervisor for this project. */
  start(options?: StartOptions): Promise<Supervisor>;
  /** Environment for a spawned msup CLI: the tag is inherited by every child. */
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  /** Runs before the no-leftover check (e.g. to stop a spawned CLI). */
  onCleanup(fn: () => Promise<void>): void;
}

export function useProject(): () => Project {
  let current: (Project & { cleanup(): Promise<void> }) | undefined;

  afterEach(async () => {
    const project = current;
    current = undefined;
    await project?.cleanup();
  });

  return () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'msup-test-'));
    const tag = randomUUID();
    const supervisors: Supervisor[] = [];
    const cleanups: (() => Promise<void>)[] = [];
    const project = {
      root,
      tag,
      config(services: Record<string, ServiceConfig>): MsupConfig {
        const tagged = Object.fromEntries(
          Object.entries(services).map(([name, s]) => [
            name,
            { ...s, env: { ...s.env, MSUP_TEST_TAG: tag } },
          ]),
        );
        return { services: tagged };
      },
      onCleanup(fn: () => Promise<void>) {
        cleanups.push(fn);
      },
      write(name: string, content: string) {
        const file = path.join(root, name);
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, content);
        return file;
      },
      writeConfig(services: Record<string, unknown>, file = 'supervisor.config.json') {
        return project.write(
          file,
          JSON.stringify(project.config(services as Record<string, ServiceConfig>), null, 2),
        );
      },
      create(options: StartOptions = {}) {
        const sup = createSupervisor({ cwd: root, ...options });
        supervisors.push(sup);
        return sup;
      },
      start(options: StartOptions = {}) {
        return project.create(options).start();
      },
      env(extra: Record<string, string> = {}) {
        return { ...process.env, MSUP_TEST_TAG: tag, NO_COLOR: '1', ...extra };
      },
      async cleanup() {
        await Promise.all([...supervisors.map((s) => s.stop()), ...cleanups.map((fn) => fn())]);
        try {
          await expectNoTaggedProcesses(tag);
        } finally {
          rmSync(root, { recursive: true, force: true });
        }
      },
    };
    current = project;
    return project;
  };
}
