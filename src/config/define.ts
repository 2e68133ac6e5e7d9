// defineConfig: a typed identity, so supervisor.config.ts gets completion and checks in an editor.
import type { MsupConfig } from '../types.js';

export function defineConfig<const T extends MsupConfig>(config: T): T {
  return config;
}
