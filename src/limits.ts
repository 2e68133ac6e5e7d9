// Upper bounds on what a config, a command or a control message may ask for, shared by the config
// schema, the control protocol and the supervisor, and the test for msup's own shortage of
// descriptors (a leaf module, like types.ts and errors.ts).

/** The most instances one service may run: `instances`, `msup scale`, `sup.scale()`. */
export const MAX_INSTANCES = 1000;

/** The longest duration a timer can hold (setTimeout's limit, about 24.8 days). */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/**
 * A system error that says msup itself is short (of file descriptors, or memory for sockets), not
 * that an instance failed: an instance is never ejected or restarted for it.
 */
export function isLocalShortage(code: string | undefined): boolean {
  return code === 'EMFILE' || code === 'ENFILE' || code === 'ENOBUFS' || code === 'ENOMEM';
}
