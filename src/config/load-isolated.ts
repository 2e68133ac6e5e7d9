// Loads a config file in a worker thread: importing TypeScript (jiti) and validating (zod) take about
// 30 MB that msup's own isolate would otherwise keep for its whole run. The worker ends once it answered.
// From the sources (tests), where there is no built worker to start, the file is loaded here instead.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { MsupError } from '../errors.js';
import { BUILT, packageFile } from '../package-root.js';
import type { ResolvedConfig } from '../types.js';
import type { WorkerAnswer } from './load-worker.js';
import type { ResolveOptions } from './resolve.js';
import { codeCacheFile, WORKER_BOOT } from './worker-boot.js';

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

export type LoadOptions = { cwd?: string; configFile?: string } & ResolveOptions;

/** A load started ahead of its caller, and what it was asked. */
let early: { key: string; config: Promise<ResolvedConfig> } | undefined;

const keyOf = (options: LoadOptions) =>
  JSON.stringify([
    path.resolve(options.cwd ?? process.cwd()),
    options.configFile ?? null,
    options.runtime ?? null,
  ]);

/**
 * Starts loading a config before its caller needs it: the command line does this for `msup start` before it
 * imports the start command's code, so that the worker (another thread, another core) loads the config
 * while this thread loads the supervisor. The next `loadConfigIsolated` with the same options takes its
 * answer (or its error), the same promise; any other loads afresh.
 */
export function loadConfigEarly(options: LoadOptions): Promise<ResolvedConfig> {
  const config = load(options);
  config.catch(() => {}); // whoever takes it sees the error
  early = { key: keyOf(options), config };
  return config;
}

export function loadConfigIsolated(options: LoadOptions): Promise<ResolvedConfig> {
  const taken = early;
  early = undefined;
  if (taken && taken.key === keyOf(options)) return taken.config;
  return load(options);
}

async function load(options: LoadOptions): Promise<ResolvedConfig> {
  // The worker is one file bundled at build time (scripts/bundle.js); from the sources (the test runner),
  // the config loads in this thread.
  const worker = packageFile('dist/bundle/load-worker.cjs');
  if (!BUILT || !existsSync(worker)) {
    const { loadConfigFile } = await import('./load.js');
    return loadConfigFile(options);
  }
  const answer = await new Promise<WorkerAnswer>((resolve, reject) => {
    const thread = new Worker(WORKER_BOOT, {
      eval: true,
      workerData: {
        cwd: options.cwd ?? process.cwd(),
        configFile: options.configFile,
        runtime: options.runtime,
        bundle: worker,
        cache: codeCacheFile(worker),
      },
      // The config may print; its output is msup's.
      stdout: false,
      stderr: false,
    });
    thread.once('message', (message: WorkerAnswer) => {
      resolve(message);
      void thread.terminate();
    });
    thread.once('error', reject);
    thread.once('exit', (code) =>
      reject(new Error(`the config loader stopped (exit ${code}) without an answer`)),
    );
  });
  if (answer.ok) return deepFreeze(answer.config);
  throw new MsupError(answer.error.code, answer.error.message, { issues: answer.error.issues });
}
