// Which project a command talks to: the folder of --config, or of the config file in this folder.
import path from 'node:path';
import { findConfigFile } from '../config/find.js';
import type { LoadOptions } from '../config/load-isolated.js';
import type { CliArgs } from './args.js';

export function projectRoot(config: string | undefined, cwd = process.cwd()): string {
  return path.dirname(findConfigFile(cwd, config));
}

/**
 * Which config `msup start` loads, as the config loader is asked for it: the early load (main.ts) and the
 * supervisor (start-command.ts) must ask the same, or the early answer is not taken.
 */
export function startConfigSource(args: CliArgs): LoadOptions {
  return {
    cwd: process.cwd(),
    ...(args.runtime !== undefined ? { runtime: args.runtime } : {}),
    // An empty --config is passed on, to be refused (findConfigFile), not taken for no --config.
    ...(args.config !== undefined ? { configFile: args.config } : {}),
  };
}
