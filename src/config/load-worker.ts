// The config loader's worker: imports the config file (jiti, zod) in an isolate of its own, so msup's
// long-running one never holds them, and posts back the resolved config or the coded error.
import { parentPort, workerData } from 'node:worker_threads';
import { isMsupError } from '../errors.js';
import { loadConfigFile } from './load.js';

const port = parentPort;
if (port) {
  loadConfigFile(workerData).then(
    (config) => port.postMessage({ ok: true, config }),
    (error: unknown) =>
      port.postMessage({
        ok: false,
        error: isMsupError(error)
          ? { code: error.code, message: error.message, issues: error.issues }
          : { code: 'MSUP_CONFIG_LOAD', message: (error as Error)?.message ?? String(error), issues: [] },
      }),
  );
}
