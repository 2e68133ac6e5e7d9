// Loads a config file in a worker thread: importing TypeScript (jiti) and validating (zod) take about
// 30 MB that msup's own isolate would otherwise keep for its whole run. The worker ends once it answered.
// From the sources (tests), where there is no built worker to start, the file is loaded here instead.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { MsupError } from '../errors.js';
import { BUILT, packageFile } from '../package-root.js';
import type { ResolvedConfig } from '../types.js';
import type { ErrorCopy, WorkerAnswer } from './load-worker.js';
import type { ResolveOptions } from './resolve.js';
import { codeCacheFile, WORKER_BOOT } from './worker-boot.js';

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

export type LoadOptions = {
  cwd?: string;
  configFile?: string;
  /** How long the config may take to load (its default export may be async): 30 s by default. */
  loadTimeoutMs?: number;
} & ResolveOptions;

/** A config that has not answered in this long never will (a promise that never settles, a busy loop). */
export const CONFIG_LOAD_TIMEOUT_MS = 30_000;

/** MSUP_CONFIG_LOAD for a config that gave no answer: `what` happened instead. */
const noAnswer = (options: LoadOptions, what: string) =>
  new MsupError(
    'MSUP_CONFIG_LOAD',
    `could not load ${options.configFile ?? 'the config'}: ${what} (does its default export return a promise that never settles?)`,
  );

/** The cause a worker sent, as an Error again. */
function causeOf(copy: ErrorCopy | undefined): Error | undefined {
  if (!copy) return undefined;
  const error: Error & { code?: string } = new Error(copy.message);
  error.name = copy.name;
  if (copy.stack) error.stack = copy.stack;
  if (copy.code) error.code = copy.code;
  return error;
}

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
  const timeoutMs = options.loadTimeoutMs ?? CONFIG_LOAD_TIMEOUT_MS;
  const timedOut = () => noAnswer(options, `it did not finish loading within ${timeoutMs / 1000} s`);
  if (!BUILT || !existsSync(worker)) {
    // In this thread a busy loop cannot be ended; a promise that never settles can.
    const { loadConfigFile } = await import('./load.js');
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timedOut()), timeoutMs);
    });
    try {
      return await Promise.race([loadConfigFile(options), expired]);
    } finally {
      clearTimeout(timer);
    }
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
    // The worker is ended when it has not answered in time, even in a busy loop.
    const timer = setTimeout(() => {
      reject(timedOut());
      void thread.terminate();
    }, timeoutMs);
    const settle = () => clearTimeout(timer);
    thread.once('message', (message: WorkerAnswer) => {
      settle();
      resolve(message);
      void thread.terminate();
    });
    thread.once('error', (error) => {
      settle();
      reject(error);
    });
    thread.once('exit', (code) => {
      settle();
      // A default export whose promise never settles, and nothing else left to run, ends the worker.
      reject(noAnswer(options, `its loader ended (exit ${code}) without an answer`));
    });
  });
  if (answer.ok) return deepFreeze(answer.config);
  throw new MsupError(answer.error.code, answer.error.message, {
    issues: answer.error.issues,
    cause: causeOf(answer.error.cause),
  });
}
