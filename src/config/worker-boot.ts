// How the config loader's worker starts: its code is one CommonJS bundle of about 0.8 MB (zod inside),
// and compiling it took the worker about 75 ms of every `msup start` (a CPU profile: BENCHMARKS.md, the
// supervisor). So the worker compiles it with V8's code cache (vm.Script's cachedData), kept in the user's
// private cache folder ($XDG_CACHE_HOME, else ~/.cache: msup/v8/, 0700, files 0600) under a name made of
// the bundle's path, size and time and the Node version. V8 checks a cache's header (its version, flags,
// the source's length) but not the rest in a release build, and damaged bytes past the header crash the
// process: so the file starts with a CRC-32 of the source and one of V8's data, and a cache whose sums do
// not match is not handed to V8 at all. V8 compiles afresh when it has no cache or rejects one
// (`cachedDataRejected`); the worker then writes a new one once the config is loaded (so it holds the
// functions the load compiled too), and removes the same bundle's older ones. Without a folder msup may
// write, there is no cache.
import { statSync } from 'node:fs';
import path from 'node:path';
import { userCacheDir } from '../private-files.js';

/** FNV-1a, 32 bits: a short stable name for a path (V8 checks the cache's content itself). */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

/** Where the code cache of `bundle` goes, or null (no private cache folder). */
export function codeCacheFile(bundle: string): string | null {
  const dir = userCacheDir('v8');
  if (!dir) return null;
  try {
    const { size, mtimeMs } = statSync(bundle);
    const name = `${path.basename(bundle, '.cjs')}-${fnv1a(bundle)}-${fnv1a(`${size}:${mtimeMs}:${process.version}:${process.arch}`)}.bin`;
    return path.join(dir, name);
  } catch {
    return null;
  }
}

/**
 * The worker's code (CommonJS, run with `eval: true`): compile the bundle with the cache, call its
 * `answer`, write the cache if V8 had none it could use (and remove the same bundle's older ones), post
 * the answer (a turn later). workerData: the load's options plus `bundle` and `cache` (a path or null).
 */
export const WORKER_BOOT = `
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { crc32 } = require('node:zlib');
const { createRequire, wrap } = require('node:module');
const { parentPort, threadId, workerData } = require('node:worker_threads');
const { bundle, cache, ...options } = workerData;
const source = wrap(fs.readFileSync(bundle, 'utf8'));
const sourceSum = crc32(source);
let cachedData;
if (cache) {
  try {
    // [CRC-32 of the source][CRC-32 of the data][V8's data]: anything else is no cache.
    const file = fs.readFileSync(cache);
    const data = file.subarray(8);
    if (file.length > 8 && file.readUInt32BE(0) === sourceSum && file.readUInt32BE(4) === crc32(data)) {
      cachedData = data;
    }
  } catch {}
}
const script = new vm.Script(source, { filename: bundle, cachedData });
const module = { exports: {} };
script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, path.dirname(bundle));
module.exports.answer(options).then((answer) => {
  if (cache && (cachedData === undefined || script.cachedDataRejected)) {
    try {
      const temporary = cache + '.' + process.pid + '.' + threadId + '.tmp';
      const data = script.createCachedData();
      const sums = Buffer.alloc(8);
      sums.writeUInt32BE(sourceSum, 0);
      sums.writeUInt32BE(crc32(data), 4);
      fs.writeFileSync(temporary, Buffer.concat([sums, data]), { mode: 0o600 });
      fs.renameSync(temporary, cache);
      const dir = path.dirname(cache);
      const name = path.basename(cache);
      const prefix = name.slice(0, name.lastIndexOf('-') + 1);
      for (const other of fs.readdirSync(dir)) {
        if (other.startsWith(prefix) && other !== name) fs.rmSync(path.join(dir, other), { force: true });
      }
    } catch {}
  }
  // A turn later: a promise the config rejected with nobody to catch it is reported (the worker's error,
  // a load error) before the answer, not after it, when the worker may already be gone.
  setImmediate(() => parentPort.postMessage(answer));
});
`;
