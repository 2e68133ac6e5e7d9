// Which config file a project uses: the one named, or the first supervisor.config.* in the folder. Cheap:
// the commands that only need the project's folder (status, logs, stop) load nothing else of config/.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { MsupError } from '../errors.js';
import { describeLinkLoop, followLinks } from '../links.js';

export const CONFIG_NAMES = [
  'supervisor.config.ts',
  'supervisor.config.mts',
  'supervisor.config.js',
  'supervisor.config.mjs',
  'supervisor.config.json',
] as const;

/**
 * A config file that is not there because it is a symbolic link into a loop (`a -> b -> a`, which the
 * system gives up on after 40 steps): an error that says so, naming the links; null when it is no loop.
 */
function loopError(file: string): MsupError | null {
  const chain = followLinks(file);
  if (!chain.loop) return null;
  // the links by their names from the config's folder (the project's, most often)
  const links = describeLinkLoop(chain, path.dirname(file));
  // no link itself, in a folder that loops (`--config d/loop/x.json`, d/loop -> loop)
  const what =
    chain.links.length === 0
      ? 'is in a folder that is a link into a loop of links'
      : 'is a symbolic link into a loop of links';
  return new MsupError('MSUP_CONFIG_NOT_FOUND', `config file not found: ${file} ${what}: ${links}`);
}

/**
 * The config file to use: `explicit` if given (must be a file), else the first known name in `dir`. An
 * empty name or a folder is refused rather than resolved: either would otherwise name `dir` or the folder
 * itself, and the project would be its parent's.
 */
export function findConfigFile(dir: string, explicit?: string): string {
  if (explicit !== undefined) {
    if (explicit === '') throw new MsupError('MSUP_USAGE', '--config needs a file name, not an empty string');
    const file = path.resolve(dir, explicit);
    if (!existsSync(file)) {
      throw loopError(file) ?? new MsupError('MSUP_CONFIG_NOT_FOUND', `config file not found: ${file}`);
    }
    if (statSync(file).isDirectory()) {
      throw new MsupError(
        'MSUP_CONFIG_NOT_FOUND',
        `${file} is a folder, not a config file; name the file (such as ${path.join(file, CONFIG_NAMES[0])}), or run msup in that folder`,
      );
    }
    return file;
  }
  // A link there that leads nowhere is passed over, as no file; so is one into a loop, a later name may be
  // the project's file (a loop left over under an earlier name), but the first loop is named when none is.
  for (const name of CONFIG_NAMES) {
    const file = path.join(dir, name);
    if (existsSync(file)) return file;
  }
  throw (
    CONFIG_NAMES.map((name) => loopError(path.join(dir, name))).find((error) => error !== null) ??
    new MsupError(
      'MSUP_CONFIG_NOT_FOUND',
      `no config file in ${dir} (looked for ${CONFIG_NAMES.join(', ')}); pass --config PATH`,
    )
  );
}
