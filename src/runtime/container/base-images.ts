// The images a Containerfile builds FROM, for the image's hash: a base rebuilt under the same tag makes a
// new hash, as the engine's own layer cache would rebuild (msup's hash covered the Containerfile's text
// and the folder only, and kept using an image built on the old base). Pure but for the engine's answer.

/**
 * The image references of a Containerfile's `FROM` lines: not `scratch`, not an earlier stage's name
 * (`FROM build AS run` after `FROM node AS build`), not one with a build argument (`$VERSION`: its value
 * is the engine's to know).
 */
export function baseImages(containerfile: string): string[] {
  const stages = new Set<string>();
  const refs: string[] = [];
  for (const raw of containerfile.split('\n')) {
    const match = /^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$/i.exec(raw);
    if (!match) continue;
    const ref = match[1] as string;
    const stage = match[2];
    if (ref.toLowerCase() !== 'scratch' && !ref.includes('$') && !stages.has(ref.toLowerCase()))
      refs.push(ref);
    if (stage) stages.add(stage.toLowerCase());
  }
  return [...new Set(refs)];
}

/**
 * What goes into the hash for those images: each reference with the id the engine has for it now
 * (`absent` when it has none: the build pulls it, and the next start builds once more, with its id).
 */
export async function baseImageIds(
  refs: readonly string[],
  idOf: (ref: string) => Promise<string | null>,
): Promise<string> {
  const ids = await Promise.all(refs.map(async (ref) => `${ref}=${(await idOf(ref)) ?? 'absent'}`));
  return ids.join(' ');
}
