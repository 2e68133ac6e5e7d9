// A compare's figures written for people, in their unit (the terminal table and the HTML report). Pure.
import type { Metric } from './types.js';

/** A figure in its unit, short. */
export function formatValue(value: number | null, unit: Metric['unit']): string {
  if (value === null) return '–';
  switch (unit) {
    case 'ms':
      return value >= 100 ? `${Math.round(value)} ms` : `${value.toFixed(value >= 10 ? 1 : 2)} ms`;
    case 'req/s':
      return `${Math.round(value)} req/s`;
    case 'bytes':
      return `${(value / 1024 / 1024).toFixed(0)} MB`;
    case 's':
      return `${value.toFixed(2)} s`;
    case 'usd':
      return value === 0 ? '$0' : `$${value < 0.01 ? value.toPrecision(3) : value.toFixed(4)}`;
    case 'count':
      return String(Math.round(value));
  }
}

/** A ratio to the baseline runtime's figure: `1.37×`. */
export function formatRatio(value: number | null): string {
  if (value === null) return '–';
  return `${value.toFixed(value >= 10 ? 1 : 2)}×`;
}
