// The config loader's worker: imports the config file (jiti, zod) in an isolate of its own, so msup's
// long-running one never holds them, and answers with the resolved config or the coded error. Bundled at
// build time into one CommonJS file (dist/bundle/load-worker.cjs) that the worker's boot code
// (worker-boot.ts) compiles with V8's code cache and calls.

import type { ConfigIssue, ErrorCode } from '../errors.js';
import { isMsupError } from '../errors.js';
import type { ResolvedConfig } from '../types.js';
import { loadConfigFile } from './load.js';
import type { ResolveOptions } from './resolve.js';

export type WorkerAnswer =
  | { ok: true; config: ResolvedConfig }
  | {
      ok: false;
      error: { code: ErrorCode; message: string; issues: readonly ConfigIssue[]; cause?: ErrorCopy };
    };

/** An error as it crosses from the worker: what `cause` keeps of it. */
export interface ErrorCopy {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

function copyOf(error: unknown): ErrorCopy | undefined {
  if (error === undefined) return undefined;
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const code = (error as NodeJS.ErrnoException).code;
  return {
    name: error.name,
    message: error.message,
    ...(error.stack ? { stack: error.stack } : {}),
    ...(typeof code === 'string' ? { code } : {}),
  };
}

export async function answer(
  options: { cwd?: string; configFile?: string; checkFolders?: boolean } & ResolveOptions,
): Promise<WorkerAnswer> {
  try {
    return { ok: true, config: await loadConfigFile(options) };
  } catch (error) {
    return {
      ok: false,
      error: isMsupError(error)
        ? { code: error.code, message: error.message, issues: error.issues, cause: copyOf(error.cause) }
        : {
            code: 'MSUP_CONFIG_LOAD',
            message: (error as Error)?.message ?? String(error),
            issues: [],
            cause: copyOf(error),
          },
    };
  }
}
