// A chain of symbolic links followed by hand, as the system follows it, where the system will not say
// where it leads: a link to a file not made yet (dangling), or links in a loop (ELOOP).
import { readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';

/** How many links a chain is followed through (the system's own limit, 40), past which it is a loop. */
const LINKS_FOLLOWED = 40;

export interface LinkChain {
  /** The links followed, `file` first (absolute): empty when `file` is no link. */
  links: string[];
  /** Where the chain ends: the first path that is no link (there or not); for a loop, the link it comes back to. */
  end: string;
  /**
   * The chain comes back to a link in it (`a -> b -> a`), goes on past LINKS_FOLLOWED links, or meets a
   * folder on the way that is a link into a loop (`through`).
   */
  loop: boolean;
  /** The folder on the way to `end` that is a link into a loop (`d/loop -> loop`), for which the system gives up on `end`. */
  through?: string;
}

/** A folder's real path, or the folder as written when that cannot be had. */
function realFolder(folder: string): string {
  try {
    return realpathSync(folder);
  } catch {
    return folder;
  }
}

/** The first folder on the way to `file` (from the root down) that the system cannot resolve for a loop of links. */
function loopingFolder(file: string): string | undefined {
  const folders: string[] = [];
  for (let folder = path.dirname(file); folder !== path.dirname(folder); folder = path.dirname(folder)) {
    folders.unshift(folder);
  }
  return folders.find((folder) => {
    try {
      realpathSync(folder);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ELOOP';
    }
  });
}

/**
 * The links from `file` on: each one's target resolved from its real folder, as the system does (`..` in
 * the target leaves that folder, not the name's), until a path that is no link, or one already met.
 */
export function followLinks(file: string): LinkChain {
  const links: string[] = [];
  // each link by its real folder: a folder on the way that is a link makes no second name for it
  const seen = new Set<string>();
  let current = path.resolve(file);
  for (;;) {
    const folder = realFolder(path.dirname(current));
    const key = path.join(folder, path.basename(current));
    if (seen.has(key) || links.length >= LINKS_FOLLOWED) return { links, end: current, loop: true };
    let target: string;
    try {
      target = readlinkSync(current);
    } catch (error) {
      // a folder on the way that is a link into a loop: the system gives up on the path (ELOOP)
      if ((error as NodeJS.ErrnoException).code === 'ELOOP') {
        const through = loopingFolder(current);
        return { links, end: current, loop: true, ...(through === undefined ? {} : { through }) };
      }
      return { links, end: current, loop: false }; // not a link (or not there): the end of the chain
    }
    links.push(current);
    seen.add(key);
    current = path.resolve(folder, target);
  }
}

/**
 * The links of a chain that is a loop, in words, each relative to `dir` when it is in it:
 * `supervisor.config.json -> .msup/a.json -> .msup/b.json -> .msup/a.json`, or, for a folder on the way
 * that loops, `supervisor.config.json -> d/loop/x.json, in d/loop, a folder that is a link into a loop`.
 */
export function describeLinkLoop(chain: LinkChain, dir: string): string {
  const name = (file: string) => {
    const relative = path.relative(dir, file);
    return relative === '' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)
      ? file
      : relative;
  };
  const steps = chain.links.map(name);
  // a chain cut at LINKS_FOLLOWED (links through looping folders) ends in no link met before
  if (chain.links.length >= LINKS_FOLLOWED)
    return `${steps.join(' -> ')} -> ... (more than ${LINKS_FOLLOWED} links)`;
  const shown = [...steps, name(chain.end)].join(' -> ');
  // a folder on the way that loops: the end is no link met again, the folder is
  return chain.through === undefined
    ? shown
    : `${shown}, in ${name(chain.through)}, a folder that is a link into a loop`;
}
