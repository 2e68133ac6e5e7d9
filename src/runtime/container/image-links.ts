// Symbolic links of a service folder that will not resolve inside its minimal image: the image holds the
// folder (less what .containerignore leaves out), node, its libraries and sh, each at its host path, so a
// link to anything else (a node_modules linked from another checkout, a file left out) is dangling in the
// container, and the app fails there with a "Cannot find module" it never had on the host. Pure.
import path from 'node:path';
import type { TarEntry } from './tar.js';

export interface DanglingLink {
  /** The link's path (absolute, the host's and the image's). */
  path: string;
  /** Its target as written in the link. */
  target: string;
}

/** How many links one lookup may pass through before it counts as a loop (Linux's own limit). */
const MAX_HOPS = 40;

/**
 * The links under `folder` among `entries` whose target the image does not hold (following the image's own
 * links on the way, at most 40, as the kernel would).
 */
export function danglingLinks(entries: readonly TarEntry[], folder: string): DanglingLink[] {
  const held = new Map<string, TarEntry>();
  for (const e of entries) held.set(e.path, e);
  const under = folder.endsWith(path.sep) ? folder : `${folder}${path.sep}`;
  const dangling: DanglingLink[] = [];
  for (const e of entries) {
    if (e.type !== 'symlink' || !e.path.startsWith(under)) continue;
    if (resolve(held, path.resolve(path.dirname(e.path), e.target)) === null) {
      dangling.push({ path: e.path, target: e.target });
    }
  }
  return dangling;
}

/** Where `target` leads in the image, component by component through its links; null if it leads nowhere. */
function resolve(held: ReadonlyMap<string, TarEntry>, target: string): string | null {
  let rest = target.split(path.sep).filter((part) => part !== '');
  let at: string = path.sep;
  let hops = 0;
  while (rest.length > 0) {
    const next = path.join(at, rest[0] as string);
    rest = rest.slice(1);
    const entry = held.get(next);
    if (!entry) return null;
    if (entry.type !== 'symlink') {
      at = next;
      continue;
    }
    if (++hops > MAX_HOPS) return null;
    const to = path.resolve(path.dirname(next), entry.target);
    rest = [...to.split(path.sep).filter((part) => part !== ''), ...rest];
    at = path.sep;
  }
  return at;
}
