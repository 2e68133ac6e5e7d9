// Builds the function runtime's bootstrap (src/runtime/function/bootstrap.ts and what it imports) into one
// CommonJS file, dist/runtime/function/bootstrap.cjs, the program every handler environment starts. One
// CommonJS file because that is what starts fastest: as ES modules, the three files and the builtins they
// import went through Node's ES module loader before the handler was even looked for, which made each cold
// start a few milliseconds slower (measured: BENCHMARKS.md, the function runtime).
import { build } from 'esbuild';

await build({
  entryPoints: ['src/runtime/function/bootstrap.ts'],
  outfile: 'dist/runtime/function/bootstrap.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
