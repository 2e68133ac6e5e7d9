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
  /** Ends the load (its worker terminated): it rejects with MSUP_STOPPED. msup stopping while it loads. */
  signal?: AbortSignal;
  /** false: no check that each service's folder exists (an export runs nothing here). */
  checkFolders?: boolean;
} & ResolveOptions;

/** A config that has not answered in this long never will (a promise that never settles, a busy loop). */
export const CONFIG_LOAD_TIMEOUT_MS = 30_000;

/** MSUP_CONFIG_LOAD for a config that gave no answer: `what` happened instead. */
const noAnswer = (options: LoadOptions, what: string) =>
  new MsupError(
    'MSUP_CONFIG_LOAD',
    `could not load ${options.configFile ?? 'the config'}: ${what} (does its default export return a promise that never settles?)`,
  );

/** Why a load ended by its signal rejects: msup was stopped while the config loaded. */
const stopped = () => new MsupError('MSUP_STOPPED', 'stopped while the config was loading');

/** The cause a worker sent, as an Error again. */
function causeOf(copy: ErrorCopy | undefined): Error | undefined {
  if (!copy) return undefined;
  const error: Error & { code?: string } = new Error(copy.message);
  error.name = copy.name;
  if (copy.stack) error.stack = copy.stack;
  if (copy.code) error.code = copy.code;
  return error;
}

/** A load started ahead of its caller, what it was asked, and how to end it. */
let early: { key: string; config: Promise<ResolvedConfig>; abort: AbortController } | undefined;

const keyOf = (options: LoadOptions) =>
  JSON.stringify([
    path.resolve(options.cwd ?? process.cwd()),
    options.configFile ?? null,
    options.runtime ?? null,
    options.checkFolders ?? true,
  ]);

/**
 * Starts loading a config before its caller needs it: the command line does this for `msup start` before it
 * imports the start command's code, so that the worker (another thread, another core) loads the config
 * while this thread loads the supervisor. The next `loadConfigIsolated` with the same options takes its
 * answer (or its error), the same promise; any other loads afresh.
 */
export function loadConfigEarly(options: LoadOptions): Promise<ResolvedConfig> {
  const abort = new AbortController();
  const config = load({ ...options, signal: abort.signal });
  config.catch(() => {}); // whoever takes it sees the error
  early = { key: keyOf(options), config, abort };
  return config;
}

export function loadConfigIsolated(options: LoadOptions): Promise<ResolvedConfig> {
  const taken = early;
  early = undefined;
  if (taken && taken.key === keyOf(options)) {
    // The early load was started without its taker's signal: that signal ends it too.
    const { signal } = options;
    if (signal?.aborted) taken.abort.abort();
    else signal?.addEventListener('abort', () => taken.abort.abort(), { once: true });
    return taken.config;
  }
  return load(options);
}

async function load(options: LoadOptions): Promise<ResolvedConfig> {
  // The worker is one file bundled at build time (scripts/bundle.js); from the sources (the test runner),
  // the config loads in this thread.
  const worker = packageFile('dist/bundle/load-worker.cjs');
  const timeoutMs = options.loadTimeoutMs ?? CONFIG_LOAD_TIMEOUT_MS;
  const timedOut = () => noAnswer(options, `it did not finish loading within ${timeoutMs / 1000} s`);
  const { signal } = options;
  if (signal?.aborted) throw stopped();
  if (!BUILT || !existsSync(worker)) {
    // In this thread a busy loop cannot be ended; a promise that never settles can.
    const { loadConfigFile } = await import('./load.js');
    let timer: NodeJS.Timeout | undefined;
    let onAbort = () => {};
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timedOut()), timeoutMs);
      onAbort = () => reject(stopped());
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([loadConfigFile(options), expired]);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
  const answer = await new Promise<WorkerAnswer>((resolve, reject) => {
    const thread = new Worker(WORKER_BOOT, {
      eval: true,
      workerData: {
        cwd: options.cwd ?? process.cwd(),
        configFile: options.configFile,
        runtime: options.runtime,
        checkFolders: options.checkFolders,
        bundle: worker,
        cache: codeCacheFile(worker),
      },
      // What the config prints goes to msup's stderr: msup's stdout may be JSON (--json) or an export's
      // output, which a line printed by the config would break.
      stdout: true,
      stderr: false,
    });
    thread.stdout.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    // The worker is ended when it has not answered in time, even in a busy loop, and when msup stops.
    const end = (error: Error) => {
      settle();
      reject(error);
      void thread.terminate();
    };
    const timer = setTimeout(() => end(timedOut()), timeoutMs);
    const onAbort = () => end(stopped());
    signal?.addEventListener('abort', onAbort, { once: true });
    const settle = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    thread.once('message', (message: WorkerAnswer) => {
      settle();
      resolve(message);
      void thread.terminate();
    });
    // An error the config throws or rejects with outside its load (a timer's callback, a promise nobody
    // awaits) ends the worker: it is the config's error, not msup's. `on`, not `once`: a second one
    // without a listener would be thrown in msup's thread.
    thread.on('error', (error) => {
      const reason = error instanceof Error ? error.message : String(error);
      end(
        new MsupError('MSUP_CONFIG_LOAD', `could not load ${options.configFile ?? 'the config'}: ${reason}`, {
          cause: error,
        }),
      );
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
