// The memory of an environment's main process as Linux reports it (/proc/<pid>/status): resident now and
// its peak (VmHWM, what Lambda's "Max Memory Used" is). Elsewhere, unknown.
import { readFileSync } from 'node:fs';

export interface ProcessMemory {
  rssBytes: number;
  peakBytes: number;
}

const field = (text: string, name: string): number => {
  const at = text.indexOf(`${name}:`);
  if (at < 0) return 0;
  return Number.parseInt(text.slice(at + name.length + 1).trimStart(), 10) * 1024;
};

/** Resident and peak memory of a process, or null when it cannot be read (gone, not Linux). */
export function processMemory(pid: number): ProcessMemory | null {
  if (process.platform !== 'linux') return null;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    return { rssBytes: field(status, 'VmRSS'), peakBytes: field(status, 'VmHWM') };
  } catch {
    return null;
  }
}
