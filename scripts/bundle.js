// The build's second step, after tsc: two bundles made with esbuild from the TypeScript sources.
//
// - dist/runtime/function/bootstrap.cjs: the function runtime's bootstrap (src/runtime/function/bootstrap.ts
//   and what it imports) as one CommonJS file, the program every handler environment starts. As ES modules,
//   the three files and the builtins they import went through Node's ES module loader before the handler
//   was even looked for, which made each cold start a few milliseconds slower (BENCHMARKS.md, the function
//   runtime).
// - dist/bundle/: the command line (src/cli/main.ts, what bin/msup.js runs) as ES modules split into chunks,
//   so that a lazy `import()` stays lazy (chunks load when first used). Loading the start command's graph
//   took 233 ms as tsc's ~150 files and 154 ms bundled (BENCHMARKS.md, the supervisor). The library
//   (dist/index.js) and msup's other programs (the config worker, the sidecar, the load generator) stay
//   tsc's output; code finds them from the package root (src/package-root.ts), not from its own place.
//
// - dist/bundle/load-worker.cjs: the config loader's worker (src/config/load-worker.ts), with zod inside it,
//   one file: a worker starts a new isolate that loads its whole graph, and as one file it answered a JSON
//   config in about 160 ms instead of 230 (jiti, needed only for a config that is not JSON, stays outside).
//   CommonJS, compiled by the worker with V8's code cache (src/config/worker-boot.ts).
//
// Otherwise npm packages stay external (loaded from node_modules as before).
import { readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
};

await build({
  ...common,
  entryPoints: ['src/runtime/function/bootstrap.ts'],
  outfile: 'dist/runtime/function/bootstrap.cjs',
  format: 'cjs',
});

const cli = await build({
  ...common,
  entryPoints: { main: 'src/cli/main.ts' },
  outdir: 'dist/bundle',
  format: 'esm',
  splitting: true,
  chunkNames: '[name]-[hash]',
  metafile: true,
});

// CommonJS, so that the worker can compile it with V8's code cache (vm.Script; src/config/worker-boot.ts):
// import.meta.url becomes the file's own URL, and import() of jiti a require.
await build({
  ...common,
  entryPoints: { 'load-worker': 'src/config/load-worker.ts' },
  outdir: 'dist/bundle',
  outExtension: { '.js': '.cjs' },
  format: 'cjs',
  packages: undefined,
  external: ['jiti'],
  supported: { 'dynamic-import': false },
  define: { 'import.meta.url': '__msupFileUrl' },
  banner: { js: "'use strict';\nconst __msupFileUrl = require('node:url').pathToFileURL(__filename).href;" },
});

// Chunks of earlier builds stay a day: a msup started before this build imports its lazy chunks (the
// dashboard's /metrics, the sidecar's CA) by their old names when it first needs them.
const DAY_MS = 24 * 60 * 60 * 1000;
const current = new Set(Object.keys(cli.metafile.outputs).map((file) => path.resolve(file)));
for (const name of readdirSync('dist/bundle')) {
  const file = path.resolve('dist/bundle', name);
  if (current.has(file) || name.startsWith('load-worker.')) continue;
  if (Date.now() - statSync(file).mtimeMs > DAY_MS) rmSync(file, { force: true });
}
