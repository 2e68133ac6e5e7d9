// What a killed msup leaves behind: files and folders it names after itself (`state.json.<pid>.tmp`,
// `msup.out.<pid>`, ...) and would have renamed or removed, had it lived. The next msup removes those whose
// process is gone; a live process's are its own.
import { lstatSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { isAlive } from './runtime/proc.js';

/**
 * Removes the entries of `dir` that `pattern` names, its `pid` group the process that made them, when that
 * process is gone and the entry is this user's (a folder with all it holds), and, with `minAgeMs`, was
 * made at least that long ago. Best effort: a folder that
 * cannot be read, or an entry that cannot be removed, stays. Answers the names removed.
 */
export function removeLeftovers(dir: string, pattern: RegExp, minAgeMs = 0): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const uid = process.getuid?.();
  const removed: string[] = [];
  for (const name of names) {
    const pid = Number(pattern.exec(name)?.groups?.pid);
    if (!Number.isSafeInteger(pid) || pid <= 0 || isAlive(pid)) continue;
    const entry = path.join(dir, name);
    try {
      const stat = lstatSync(entry);
      if (uid !== undefined && stat.uid !== uid) continue;
      if (minAgeMs > 0 && Date.now() - stat.mtimeMs < minAgeMs) continue;
      rmSync(entry, { recursive: true, force: true });
      removed.push(name);
    } catch {
      // Gone meanwhile, or not ours to remove: left.
    }
  }
  return removed;
}
