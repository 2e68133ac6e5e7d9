// Every error a user can see: one class, a fixed MSUP_* code each, the original error as `cause`.
import type { RolloutResult } from './types.js';

export const ERROR_CODES = {
  MSUP_CONFIG_NOT_FOUND: 'No config file was found, or the one named does not exist',
  MSUP_CONFIG_LOAD: 'The config file could not be loaded (syntax error, failed import, bad JSON)',
  MSUP_CONFIG_INVALID:
    'The config is not valid (the schema, and checks beyond it: ports, folders, .env files, what an export target can take); every problem is listed with its path',
  MSUP_PORT_IN_USE:
    "A port msup listens on is already in use (a service's front, the shared front, the admin listener); the port and what it was for are named",
  MSUP_ALREADY_RUNNING:
    'Another msup is running for this project (its pid is named), or answers on its control socket',
  MSUP_START_FAILED:
    'A service could not start (crash loop or exit during start; last exit and stderr tail attached), or a listener of msup (a front, the admin listener) could not listen on its address for a reason other than a port in use',
  MSUP_START_TIMEOUT: 'Not every instance became ready within the start timeout',
  MSUP_UNKNOWN_SERVICE:
    'A service was named (the API, a command, a dashboard action) that is not in the config; also url() of a service without a port',
  MSUP_STOPPED:
    'The supervisor was stopped before the operation could complete, or is not running for it (before start(), after stop(), a second start())',
  MSUP_USAGE:
    "What was asked is not understood or not valid as given: the command line, the API's options and arguments, a file in the way, or a request the admin listener does not serve (400, 404, 405)",
  MSUP_NOT_RUNNING: 'A command needs the running msup of this project, and none is running',
  MSUP_CONTROL:
    'The control socket could not be reached, answered something unexpected or nothing in time, or could not be opened at start; or a follower (msup logs -f) was refused, the running msup already serving as many as it takes',
  MSUP_RESTART_FAILED:
    'A rolling restart stopped: a replacement never became ready (the old instance was kept)',
  MSUP_NO_CONTAINER_ENGINE:
    'No container engine works here: what was tried, what each said, and what to install are named',
  MSUP_IMAGE_FAILED:
    "A service's image is not on this machine or could not be built; the image, the service and the engine's output are named",
  MSUP_UNSAFE_PATH:
    'A folder or socket msup uses belongs to another user or is a link, so msup will not use it',
  MSUP_NOTHING_TO_COMPARE:
    'msup compare found no service that answers HTTP (a port, or a route of the shared front) to send its load to',
  MSUP_LOADGEN_ENDED:
    "msup compare's load generator (a process of its own) ended during the compare: killed, or out of memory",
  MSUP_LOAD_FAILED:
    'msup compare measured nothing of a runtime: its warm load got no successful (2xx/3xx) answer, or sent no request; the statuses it got are named',
  MSUP_FORBIDDEN:
    "The admin listener refused a request: a Host that does not name it, another page's Origin, or no valid token",
  MSUP_ADMIN:
    'The admin listener could not answer: reading the metrics or running an action failed unexpectedly, or too many event streams are open',
  MSUP_MESH_CA:
    "The project's mesh CA could not issue a certificate that is still valid: it has ended and no new one could be made",
  MSUP_WRITE_FAILED:
    'A file msup was asked to write (an export, a report) could not be written: no permission, a full disk; the file and the reason are named',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ConfigIssue {
  /** Dotted path into the config, e.g. `services.web.instances`. */
  path: string;
  message: string;
}

/**
 * Marks msup's errors across copies of its code: the command line runs a bundle, the library runs dist/,
 * a config file gets dist/'s config-api.js, and `instanceof` alone sees only its own copy's class.
 */
const BRAND = Symbol.for('msupervisor.MsupError');

export class MsupError extends Error {
  /** `x instanceof MsupError` holds for an MsupError of any copy of msup. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

  get [BRAND](): true {
    return true;
  }

  readonly code: ErrorCode;
  /** For MSUP_CONFIG_INVALID: every problem found, with its path. */
  readonly issues: readonly ConfigIssue[];
  /** The service the error is about, where there is one. */
  readonly service: string | undefined;
  /** For MSUP_PORT_IN_USE: the port that could not be bound. */
  readonly port: number | undefined;
  /** For MSUP_RESTART_FAILED: every service's rollout up to the one that stopped (its `failed` set). */
  readonly rollouts: readonly RolloutResult[] | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      cause?: unknown;
      issues?: readonly ConfigIssue[];
      service?: string;
      port?: number;
      rollouts?: readonly RolloutResult[];
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MsupError';
    this.code = code;
    this.issues = options.issues ?? [];
    this.service = options.service;
    this.port = options.port;
    this.rollouts = options.rollouts;
  }
}

export function isMsupError(error: unknown, code?: ErrorCode): error is MsupError {
  return error instanceof MsupError && (code === undefined || error.code === code);
}
