// Where this copy of msup's files are. Code finds msup's other programs (the config worker, the sidecar,
// the function bootstrap, the load generator, bin/msup.js) and files (package.json, dashboard/) from the
// package root, not from its own place: the CLI runs as a bundle (dist/bundle/, scripts/bundle.js), the
// library from dist/, the tests from src/, each a different depth below the root.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);

function findRoot(start: string): string {
  let dir = start;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(path.dirname(here), '..');
    dir = up;
  }
  return dir;
}

/** The package root: the nearest folder above this code with a package.json. */
export const PACKAGE_ROOT = findRoot(path.dirname(here));

/** This code runs from the build (dist/, bundled or not), not from the TypeScript sources under the test runner. */
export const BUILT = !here.endsWith('.ts');

/** A file of the package: `packageFile('dist/sidecar/main.js')`. */
export function packageFile(relative: string): string {
  return path.join(PACKAGE_ROOT, relative);
}

/** A file of the tree this code runs from: `dist/<relative>` when built, `src/<relative>` under the test runner. */
export function ownTreeFile(relative: string): string {
  return path.join(PACKAGE_ROOT, BUILT ? 'dist' : 'src', relative);
}
