// Upper bounds on what a config, a command or a control message may ask for, shared by the config
// schema, the control protocol and the supervisor (a leaf module, like types.ts and errors.ts).

/** The most instances one service may run: `instances`, `msup scale`, `sup.scale()`. */
export const MAX_INSTANCES = 1000;

/** The longest duration a timer can hold (setTimeout's limit, about 24.8 days). */
export const MAX_DURATION_MS = 2 ** 31 - 1;
