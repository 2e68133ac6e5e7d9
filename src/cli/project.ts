// Which project a command talks to: the folder of --config, or of the config file in this folder.
import path from 'node:path';
import { findConfigFile } from '../config/find.js';

export function projectRoot(config: string | undefined, cwd = process.cwd()): string {
  return path.dirname(findConfigFile(cwd, config));
}
