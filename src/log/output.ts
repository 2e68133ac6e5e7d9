// How a child's line is shown: `web#1 | text`, names padded to one width, a colour per service. Pure.
import { lastState } from '../runtime/lines.js';

const COLOURS = [36, 33, 35, 32, 34, 91, 96, 93, 95, 92] as const;

export interface OutputStyle {
  color: boolean;
  /** Width the `name#i` prefix is padded to. */
  width: number;
  /** Colour slot per service, in config order. */
  palette: ReadonlyMap<string, number>;
}

export function makeStyle(
  services: readonly { name: string; instances: number }[],
  color: boolean,
): OutputStyle {
  const width = Math.max(0, ...services.map((s) => `${s.name}#${s.instances - 1}`.length));
  return {
    color,
    width,
    palette: new Map(services.map((s, i) => [s.name, COLOURS[i % COLOURS.length] as number])),
  };
}

/**
 * `style` when it already fits the line (its service has a colour, its `name#i` the width), else a new one
 * from `services` that also fits it: a service added by a reload gets its own colour, and a scale past the
 * config's count widens the names, instead of white and out of line.
 */
export function fitStyle(
  style: OutputStyle | undefined,
  services: readonly { name: string; instances: number }[],
  line: { service: string; index: number },
  color: boolean,
): OutputStyle {
  const width = `${line.service}#${line.index}`.length;
  if (style?.palette.has(line.service) && width <= style.width) return style;
  const known = services.some((s) => s.name === line.service)
    ? services
    : [...services, { name: line.service, instances: 1 }];
  const next = makeStyle(known, color);
  return { ...next, width: Math.max(next.width, width, style?.width ?? 0) };
}

/**
 * A line from a part of the instance other than its app is marked: `web#1 | [sidecar] text`. The line is
 * shown as its last state (`lastState`, the rule msup keeps lines by): a line an older msup stored with the
 * `\r`s of a progress bar drew over the prefix on a terminal.
 */
export function formatOutputLine(
  line: { service: string; index: number; stream: 'stdout' | 'stderr'; line: string; source?: string },
  style: OutputStyle,
): string {
  const label = `${line.service}#${line.index}`.padEnd(style.width);
  const state = lastState(line.line);
  const text = line.source ? `[${line.source}] ${state}` : state;
  if (!style.color) return `${label} | ${text}\n`;
  const colour = style.palette.get(line.service) ?? 37;
  const bar = line.stream === 'stderr' ? '\u001b[31m|\u001b[39m' : '|';
  return `\u001b[${colour}m${label}\u001b[39m ${bar} ${text}\n`;
}

/** Colour when writing to a terminal, unless NO_COLOR is set; FORCE_COLOR turns it on anywhere. */
export function wantsColor(isTTY: boolean | undefined, env: Record<string, string | undefined>): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return isTTY === true && env.TERM !== 'dumb';
}
