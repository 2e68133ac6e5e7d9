// Signals that come before the command that answers them has its handlers in place: a foreground
// `msup start` imports its code while the config already loads (and may print), and a Ctrl-C then would
// end msup by Node's default, its config's worker with it.
/** The signals a foreground `msup start` answers (start-command.ts). */
export const START_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Signals that came before their handler: kept, in order, until `take()` lets go of them. */
export interface HeldSignals {
  take(): NodeJS.Signals[];
}

export function holdSignals(signals: readonly NodeJS.Signals[]): HeldSignals {
  const held: NodeJS.Signals[] = [];
  const keep = (signal: NodeJS.Signals) => held.push(signal);
  for (const s of signals) process.on(s, keep);
  return {
    take() {
      for (const s of signals) process.off(s, keep);
      return held.splice(0);
    },
  };
}
