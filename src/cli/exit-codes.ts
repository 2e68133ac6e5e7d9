// Exit codes of the msup command, by error code. Pure.
import type { ErrorCode } from '../errors.js';

export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  conflict: 3,
  notRunning: 4,
  forced: 130,
} as const;

export function exitCodeFor(code: ErrorCode | undefined): number {
  switch (code) {
    case 'MSUP_USAGE':
    case 'MSUP_CONFIG_NOT_FOUND':
    case 'MSUP_CONFIG_LOAD':
    case 'MSUP_CONFIG_INVALID':
    case 'MSUP_NOTHING_TO_COMPARE':
      return EXIT.usage;
    case 'MSUP_PORT_IN_USE':
    case 'MSUP_ALREADY_RUNNING':
      return EXIT.conflict;
    case 'MSUP_NOT_RUNNING':
      return EXIT.notRunning;
    default:
      return EXIT.failed;
  }
}
