// The checks of what a caller hands the library (StartOptions, restart's and status's arguments): a value
// given but not valid is refused, naming the option, never replaced by a default behind the caller's back.
// Pure, but for checkCwd (which looks at the folder).
import { statSync } from 'node:fs';
import { ALLOWED_HOST_EXPECTED, isAllowedHost } from './config/allowed-hosts.js';
import { checkConfigSource } from './config/config-source.js';
import { durationMs } from './config/duration.js';
import { RUNTIME_NAMES } from './config/runtime-names.js';
import { MsupError } from './errors.js';
import { MAX_DURATION_MS } from './limits.js';
import type { StartOptions } from './types.js';

/**
 * Milliseconds for a duration option, or undefined when it was not given. A timer holds at most
 * 2^31-1 ms (Node warns and fires at once past that), so a longer one is refused too.
 */
export function durationOption(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const ms = durationMs(value);
  if (ms === undefined) {
    throw new MsupError(
      'MSUP_USAGE',
      `${name}: expected a duration (milliseconds from 0, or '500ms', '5s', '2m', '1h'), got ${show(value)}`,
    );
  }
  if (ms > MAX_DURATION_MS) {
    throw new MsupError(
      'MSUP_USAGE',
      `${name}: at most ${MAX_DURATION_MS}ms (about 24 days), got ${show(value)}`,
    );
  }
  return ms;
}

/** The options start() reads, checked before anything starts (a JavaScript caller gets no type check). */
export function checkStartOptions(options: StartOptions): void {
  const given: Record<string, unknown> = { ...options };
  // An empty configFile is the config finder's to refuse (as `-c ''`); an empty host would listen on every address.
  for (const name of ['configFile', 'cwd', 'host'] as const) {
    const value = given[name];
    if (value === undefined || (typeof value === 'string' && (value !== '' || name === 'configFile')))
      continue;
    throw new MsupError('MSUP_USAGE', `${name}: expected a non-empty string, got ${show(value)}`);
  }
  checkConfigSource(options);
  // `wait: 'no'` would be taken as true (only `false` turns one off): a caller's mistake, said.
  for (const name of ['wait', 'control', 'watch'] as const) {
    const value = given[name];
    if (value !== undefined && typeof value !== 'boolean') {
      throw new MsupError('MSUP_USAGE', `${name}: expected true or false, got ${show(value)}`);
    }
  }
  durationOption('timeout', options.timeout);
  const guard = options.watchLoopGuard;
  if (guard !== undefined) {
    const { restarts, window } = guard;
    if (restarts !== undefined && !(Number.isInteger(restarts) && restarts >= 0)) {
      throw new MsupError(
        'MSUP_USAGE',
        `watchLoopGuard.restarts: expected a whole number from 0, got ${show(restarts)}`,
      );
    }
    durationOption('watchLoopGuard.window', window);
  }
  const admin: unknown = options.admin;
  if (admin !== undefined && typeof admin !== 'boolean' && (typeof admin !== 'object' || admin === null)) {
    throw new MsupError(
      'MSUP_USAGE',
      `admin: expected true, false or { port, host, allowedHosts }, got ${show(admin)}`,
    );
  }
  if (typeof admin === 'object' && admin !== null) checkAdmin(admin as Record<string, unknown>);
  const runtime: unknown = options.runtime;
  if (runtime !== undefined && !(RUNTIME_NAMES as readonly unknown[]).includes(runtime)) {
    throw new MsupError('MSUP_USAGE', unknownRuntime(runtime));
  }
}

/** The `admin` option's fields, as the config's `admin` is checked (a raw RangeError from listen otherwise). */
function checkAdmin(admin: Record<string, unknown>): void {
  const port = admin.port;
  if (port !== undefined && !(Number.isInteger(port) && (port as number) >= 0 && (port as number) <= 65535)) {
    throw new MsupError(
      'MSUP_USAGE',
      `admin.port: expected a port number from 0 to 65535, got ${show(port)}`,
    );
  }
  const host = admin.host;
  if (host !== undefined && (typeof host !== 'string' || host === '')) {
    throw new MsupError('MSUP_USAGE', `admin.host: expected a non-empty string, got ${show(host)}`);
  }
  if (admin.allowedHosts !== undefined) {
    const hosts: unknown = admin.allowedHosts;
    if (!Array.isArray(hosts)) {
      throw new MsupError(
        'MSUP_USAGE',
        `admin.allowedHosts: expected an array of host names, got ${show(hosts)}`,
      );
    }
    const bad = hosts.findIndex((h) => !isAllowedHost(h));
    if (bad !== -1) {
      throw new MsupError(
        'MSUP_USAGE',
        `admin.allowedHosts.${bad}: expected ${ALLOWED_HOST_EXPECTED}, got ${show(hosts[bad])}`,
      );
    }
  }
}

/**
 * `cwd` must be a folder when it is there (one that is missing is the config's to find, or, for an
 * inline config, made): a file would otherwise fail later as "no config file in" it, or as .msup not
 * being makeable.
 */
export function checkCwd(cwd: string): void {
  let folder: boolean;
  try {
    folder = statSync(cwd).isDirectory();
  } catch {
    return;
  }
  if (!folder) throw new MsupError('MSUP_USAGE', `cwd: ${cwd} is not a folder`);
}

/** A service name handed to a method (`url(name)`, `scale(name, n)`): a string, or MSUP_USAGE naming the method. */
export function checkServiceName(method: string, name: unknown): asserts name is string {
  if (typeof name !== 'string') {
    throw new MsupError('MSUP_USAGE', `${method}: expected a service name (a string), got ${show(name)}`);
  }
}

export function unknownRuntime(name: unknown): string {
  return `runtime: expected one of ${RUNTIME_NAMES.join(', ')}, got ${show(name)}`;
}

export function show(value: unknown): string {
  if (typeof value === 'number') return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
