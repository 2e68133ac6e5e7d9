// What `msup compare` and `compare()` check of their options before anything runs, apart from the rest of
// compare so that the command line's argument parser, which every command loads, imports this alone. Pure.

/**
 * The shortest time limit of a load (`duration`): under it a load sends next to nothing (0 ms: nothing at
 * all), and a runtime's figures would be of a handful of requests or none.
 */
export const MIN_DURATION_MS = 1000;

/**
 * What is wrong with a load's URL path, or null: it must start with `/` and hold no space or control
 * character (a URL would drop or encode them, and the load would not go where it says).
 */
export function pathProblem(path: string): string | null {
  if (!path.startsWith('/')) return `it must start with "/"`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\s\x00-\x1f\x7f]/.test(path)) return 'it must not hold spaces or control characters';
  if (path.length > 2048) return 'it is longer than 2048 characters';
  // The request goes out as written: a fragment or a dot segment would be resolved away by the client,
  // and the load would reach another path (and maybe another service) than the one reported.
  if (path.includes('#')) return 'it must not hold a fragment ("#")';
  const pathname = path.split('?')[0] as string;
  if (pathname.split('/').some((segment) => segment === '.' || segment === '..'))
    return 'it must not hold "." or ".." segments';
  if (path.startsWith('//')) return 'it must not start with "//" (a URL parser reads a host there)';
  // The load generator's URL parser resolves %2e%2e and \ too, and encodes what a request line may not hold.
  let url: URL;
  try {
    url = new URL(path, 'http://localhost');
  } catch {
    return 'it is not a valid URL path';
  }
  const sent = `${url.pathname}${url.search}`;
  if (sent !== path) return `it would be sent as "${sent}": give that`;
  return null;
}
