// Where msup's own programs for handler functions are, once built: the server that runs a handler under the
// process and container runtimes, and the Lambda Runtime API bootstrap of a function's environments. This
// file finds them from the package root (package-root.ts), from src/, dist/ and the bundle alike.
import { packageFile } from './package-root.js';

/**
 * `dist/runtime/function/serve.js`, or `bootstrap.cjs` (one CommonJS file bundled at build time, which
 * starts faster than ES modules: scripts/bundle.js), of this copy of msup.
 */
export function functionScript(name: 'serve' | 'bootstrap'): string {
  const file = name === 'bootstrap' ? 'bootstrap.cjs' : `${name}.js`;
  return packageFile(`dist/runtime/function/${file}`);
}

/** What a handler service runs when it is not a function: msup's HTTP server calling the handler, on `PORT`. */
export function handlerServeArgv(handler: string): string[] {
  return [process.execPath, functionScript('serve'), handler];
}
