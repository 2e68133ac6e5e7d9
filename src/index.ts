// The public API. Re-exports only.
export { defineConfig } from './config/define.js';
export { parseDuration } from './config/duration.js';
export { type ConfigIssue, ERROR_CODES, type ErrorCode, isMsupError, MsupError } from './errors.js';
export { createSupervisor, Supervisor, start } from './supervisor.js';
export type * from './types.js';
