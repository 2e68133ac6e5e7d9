// Memory sizes in the config: megabytes as a number, or '256m', '256MB', '1g', '1GB', '512Mi', '1Gi'. Pure.

const UNITS: Record<string, number> = {
  m: 1,
  mb: 1,
  mi: 1,
  mib: 1,
  g: 1024,
  gb: 1024,
  gi: 1024,
  gib: 1024,
};
const PATTERN = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/i;

/** Whole megabytes (MiB) for a size, or undefined when it is not one (or is under 4 MB). */
export function parseMemory(value: unknown): number | undefined {
  let mb: number | undefined;
  if (typeof value === 'number') mb = Number.isFinite(value) ? value : undefined;
  else if (typeof value === 'string') {
    const match = PATTERN.exec(value.trim());
    const unit = match ? UNITS[(match[2] as string).toLowerCase()] : undefined;
    if (match && unit !== undefined) mb = Number(match[1]) * unit;
  }
  if (mb === undefined || mb < 4) return undefined;
  return Math.round(mb);
}

/** A function's memory size, in MB: Lambda's range (the SAM export and the config's check share it). */
export const FUNCTION_MEMORY = { min: 128, max: 10_240 } as const;
