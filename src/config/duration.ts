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

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)}s`;
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}
