// Durations in the config: milliseconds as a number, or '500ms', '5s', '2m', '1h'. Pure.
import { MAX_DURATION_MS } from '../limits.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/;

/** Milliseconds for a duration, or undefined when it is not one or is longer than a timer can hold. */
export function parseDuration(value: unknown): number | undefined {
  const ms = durationMs(value);
  return ms !== undefined && ms <= MAX_DURATION_MS ? ms : undefined;
}

/** Milliseconds for a duration of any length, or undefined when it is not one. */
export function durationMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = PATTERN.exec(value.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * (UNITS[match[2] as string] as number));
}

/**
 * A duration for people, in its two largest units: 850ms, 1.5s, 12m12s, 3h5m, 2d4h. Each unit's figure is
 * rounded before it is split, so that 119.9 s is 2m0s (not 1m60s) and 59.99 s is 1m0s (not 60.0s).
 */
export function formatDuration(ms: number): string {
  if (Math.round(ms) < 1000) return `${Math.round(ms)}ms`;
  const tenths = Math.round(ms / 100);
  if (tenths < 600) return `${(tenths / 10).toFixed(tenths % 10 === 0 ? 0 : 1)}s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
  const minutes = Math.round(ms / 60_000);
  if (minutes < 24 * 60) return `${Math.floor(minutes / 60)}h${minutes % 60}m`;
  const hours = Math.round(ms / 3_600_000);
  return `${Math.floor(hours / 24)}d${hours % 24}h`;
}
