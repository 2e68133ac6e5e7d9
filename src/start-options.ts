// The checks of what a caller hands the library (StartOptions, restart's and status's arguments): a value
// given but not valid is refused, naming the option, never replaced by a default behind the caller's back.
// Pure.
import { ALLOWED_HOST_EXPECTED, isAllowedHost } from './config/allowed-hosts.js';
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

/** The options start() reads as numbers and names, checked before anything starts. */
export function checkStartOptions(options: StartOptions): void {
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
  const admin = options.admin;
  if (typeof admin === 'object' && admin !== null && admin.allowedHosts !== undefined) {
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
  const runtime: unknown = options.runtime;
  if (runtime !== undefined && !(RUNTIME_NAMES as readonly unknown[]).includes(runtime)) {
    throw new MsupError('MSUP_USAGE', unknownRuntime(runtime));
  }
}

export function unknownRuntime(name: unknown): string {
  return `runtime: expected one of ${RUNTIME_NAMES.join(', ')}, got ${show(name)}`;
}

function show(value: unknown): string {
  if (typeof value === 'number') return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
