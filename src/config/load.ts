// Finding and importing the config file (jiti for TypeScript on Node 20), then validate and resolve.
import { readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type ConfigIssue, MsupError } from '../errors.js';
import { ownTreeFile } from '../package-root.js';
import { userCacheDir } from '../private-files.js';
import type { ResolvedConfig } from '../types.js';
import { readEnvFiles } from './env-file.js';
import { findConfigFile } from './find.js';
import { jsonErrorOffset, lineAndColumn } from './json-error.js';
import { type ResolveOptions, resolveConfig } from './resolve.js';
import { formatIssues, validateConfig } from './validate.js';

export { CONFIG_NAMES, findConfigFile } from './find.js';

/**
 * `import { defineConfig } from 'msupervisor'` (the package's name) resolves to this copy of msup,
 * installed or not; so does `from 'msup'` (the command's name, which configs used first). To the values a
 * config uses (config-api.ts), not the whole library.
 */
const SELF = ownTreeFile('config/config-api.js');

/**
 * Where jiti keeps the config files it compiled, so that a start whose config did not change skips Babel
 * (about 300 ms): `msup/jiti` in the user's cache folder ($XDG_CACHE_HOME, else ~/.cache), private (0700).
 * Not inside the project: a compiled copy that came with a project (an archive, a copied folder) would run
 * in place of the config the user reads, since jiti trusts an entry whose name and source hash match. Not
 * jiti's default, a shared folder under /tmp: another user's file there would run as this user's code.
 * jiti names each entry by the file's absolute path and checks it against the source's hash, so a changed
 * file is compiled again. Without a folder msup may write, no cache.
 */
function compileCache(): string | false {
  return userCacheDir('jiti') ?? false;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** A compiled file neither written nor read for this long is removed from the cache. */
export const COMPILE_CACHE_MAX_AGE_MS = 30 * DAY_MS;

/**
 * Keeps the compile cache bounded: jiti writes one file per compiled version of each file and never
 * removes one, so every edit of a config leaves its old copy. At most once a day (the time of the file
 * `jiti.pruned` beside the folder), files not used for 30 days (neither their access nor their modification time, which
 * jiti's cache hits and writes move) are removed. A failure only skips the pruning.
 */
export function pruneCompileCache(dir: string, now = Date.now()): void {
  try {
    const stamp = `${dir}.pruned`;
    let last = 0;
    try {
      last = statSync(stamp).mtimeMs;
    } catch {}
    if (now - last < DAY_MS) return;
    writeFileSync(stamp, '', { mode: 0o600 });
    utimesSync(stamp, now / 1000, now / 1000);
    for (const name of readdirSync(dir)) {
      const file = path.join(dir, name);
      const { atimeMs, mtimeMs } = statSync(file);
      if (now - Math.max(atimeMs, mtimeMs) > COMPILE_CACHE_MAX_AGE_MS) rmSync(file, { force: true });
    }
  } catch {
    // Another msup pruning at the same time, a file gone meanwhile: the next day's pruning goes on.
  }
}

/** A cache write that failed for want of room: the config loads again without the cache. */
const CACHE_WRITE = new Set(['ENOSPC', 'EDQUOT', 'EROFS']);

/** A JSON syntax error with where it is: `invalid JSON at line 3, column 38: Expected ...`. */
function jsonProblem(text: string, error: Error): string {
  const offset = jsonErrorOffset(text);
  // Node's own position (not always there) is replaced by the line and column; so is its copy of the text.
  const reason = error.message
    .replace(/ in JSON at position \d+.*$/s, '')
    .replace(/, ".*" is not valid JSON$/s, '');
  if (offset === undefined) return reason;
  const { line, column } = lineAndColumn(text, offset);
  return `invalid JSON at line ${line}, column ${column}: ${reason}`;
}

function missingDefault(file: string, module: Record<string, unknown>): MsupError {
  const names = Object.keys(module).filter((name) => name !== '__esModule');
  const exports = names.length ? ` (it exports ${names.map((n) => `"${n}"`).join(', ')})` : '';
  return new MsupError(
    'MSUP_CONFIG_LOAD',
    `${file} has no default export${exports}; write \`export default defineConfig({ services: { ... } })\``,
  );
}

async function importConfig(file: string): Promise<unknown> {
  let module: Record<string, unknown>;
  try {
    if (file.endsWith('.json')) {
      const text = await readFile(file, 'utf8');
      try {
        return JSON.parse(text);
      } catch (cause) {
        throw new MsupError(
          'MSUP_CONFIG_LOAD',
          `could not load ${file}: ${jsonProblem(text, cause as Error)}`,
          {
            cause,
          },
        );
      }
    }
    // jiti is loaded only for a config that needs it (not JSON), and in the loader's worker (load-isolated.ts).
    const { createJiti } = await import('jiti');
    const load = (fsCache: string | false) =>
      createJiti(import.meta.url, {
        alias: { msupervisor: SELF, msup: SELF },
        moduleCache: false,
        fsCache,
        // The module as it is, its default export under `default`: jiti's interop stands in the module for
        // a default export that is null or undefined (and fails on null: "reading 'then'"), where msup says
        // what is wrong with the value itself.
        interopDefault: false,
      }).import<Record<string, unknown>>(file);
    const cache = compileCache();
    module = await load(cache).catch((error: NodeJS.ErrnoException) => {
      if (cache && CACHE_WRITE.has(error?.code ?? '')) return load(false);
      throw error;
    });
    if (cache) pruneCompileCache(cache);
  } catch (cause) {
    if (cause instanceof MsupError) throw cause;
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new MsupError('MSUP_CONFIG_LOAD', `could not load ${file}: ${reason}`, { cause });
  }
  // A module without `export default` (named exports only, or nothing yet) is not a config.
  if (!module || !('default' in module)) throw missingDefault(file, module ?? {});
  const loaded = module.default;
  try {
    return typeof loaded === 'function' ? await (loaded as () => unknown)() : loaded;
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new MsupError('MSUP_CONFIG_LOAD', `could not load ${file}: its default export threw: ${reason}`, {
      cause,
    });
  }
}

/** Validate and resolve a config object; throws MSUP_CONFIG_INVALID listing every problem. */
export function prepareConfig(
  raw: unknown,
  root: string,
  file: string | null,
  options: ResolveOptions = {},
): ResolvedConfig {
  const result = validateConfig(raw, { runtime: options.runtime });
  if (!result.ok) {
    const where = file ?? 'config';
    const count = result.issues.length;
    throw new MsupError(
      'MSUP_CONFIG_INVALID',
      `${where} has ${count} problem${count === 1 ? '' : 's'}:\n${formatIssues(result.issues)}`,
      { issues: result.issues },
    );
  }
  const config = resolveConfig(result.value, root, file, options);
  const envIssues = envFileIssues(config);
  if (envIssues.length > 0) {
    const where = file ?? 'config';
    throw new MsupError(
      'MSUP_CONFIG_INVALID',
      `${where}: ${envIssues.length === 1 ? 'an environment file is' : 'environment files are'} invalid:\n${formatIssues(envIssues)}`,
      { issues: envIssues },
    );
  }
  return config;
}

/**
 * Each service's `cwd` is a folder that exists: checked as the config loads (start and reload), not left
 * to every launch to fail (a crash loop that named the folder only at the end). Apart from prepareConfig,
 * which resolves a config without looking at the disk (an export, the tests).
 */
export function checkFolders(config: ResolvedConfig): ResolvedConfig {
  const issues = cwdIssues(config);
  if (issues.length === 0) return config;
  const count = issues.length;
  throw new MsupError(
    'MSUP_CONFIG_INVALID',
    `${config.file ?? 'config'} has ${count} problem${count === 1 ? '' : 's'}:\n${formatIssues(issues)}`,
    { issues },
  );
}

function cwdIssues(config: ResolvedConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const service of config.services) {
    // The project folder itself is there, or made for .msup (a config given to the API with a new cwd).
    if (service.cwd === config.root) continue;
    // A service that waits for others may wait for the step that makes its folder (a build that writes
    // dist/, `dependsOn: { build: 'completed' }`): its launch says so if the folder is still missing then.
    if (Object.keys(service.dependsOn).length > 0) continue;
    let folder: boolean;
    try {
      folder = statSync(service.cwd).isDirectory();
    } catch {
      issues.push({
        path: `services.${service.name}.cwd`,
        message: `the folder ${service.cwd} does not exist`,
      });
      continue;
    }
    if (!folder) {
      issues.push({ path: `services.${service.name}.cwd`, message: `${service.cwd} is not a folder` });
    }
  }
  return issues;
}

/** Values in `.env` and `env_file` files that no process can be given (a NUL byte), and lines that are not assignments. */
function envFileIssues(config: ResolvedConfig): ConfigIssue[] {
  const seen = new Set<string>();
  const issues: ConfigIssue[] = [];
  for (const service of config.services) {
    const { invalid, malformed } = readEnvFiles(config.root, service.envFiles);
    for (const { file, key } of invalid) {
      if (seen.has(`${file}\0${key}`)) continue;
      seen.add(`${file}\0${key}`);
      issues.push({ path: file, message: `the value of ${key} contains a NUL byte` });
    }
    // As Compose does: a line that is not KEY=value is an error, not a variable silently missing.
    for (const { file, line } of malformed) {
      if (seen.has(`${file}\0${line}`)) continue;
      seen.add(`${file}\0${line}`);
      // The line itself is not shown: it may hold a secret.
      issues.push({
        path: `${file}:${line}`,
        message: 'expected KEY=value (or export KEY=value), a # comment or a blank line',
      });
    }
  }
  return issues;
}

export async function loadConfigFile(
  options: { cwd?: string; configFile?: string; checkFolders?: boolean } & ResolveOptions = {},
): Promise<ResolvedConfig> {
  const file = findConfigFile(options.cwd ?? process.cwd(), options.configFile);
  const config = prepareConfig(await importConfig(file), path.dirname(file), file, {
    runtime: options.runtime,
  });
  // An export runs nothing here: a service's folder may be missing from this checkout (an image's).
  return options.checkFolders === false ? config : checkFolders(config);
}
