// A caller names its config one way: a file to load (`configFile`) or the config itself (`config`). Given
// both, one would be left unused behind the caller's back (it was the file), so both are refused. Pure.
import { MsupError } from '../errors.js';

export function checkConfigSource(options: { configFile?: unknown; config?: unknown }): void {
  if (options.configFile === undefined || options.config === undefined) return;
  throw new MsupError(
    'MSUP_USAGE',
    'configFile and config: give one or the other (configFile: a file to load; config: the config itself), not both',
  );
}
