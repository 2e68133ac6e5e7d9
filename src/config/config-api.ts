// What a config file gets from `import … from 'msupervisor'` (or 'msup') when msup loads it: the values a
// config uses, and not the whole library. Importing the whole API (supervisor, proxy, runtimes, compare)
// into the config loader's worker cost about 270 ms of every start; a program that embeds msup imports
// the package itself and gets everything. Types come from the package's own declarations either way.

export { ERROR_CODES, isMsupError, MsupError } from '../errors.js';
export { defineConfig } from './define.js';
export { parseDuration } from './duration.js';
