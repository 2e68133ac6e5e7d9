// Passive health as nginx's max_fails / fail_timeout: `maxFails` failures within `failTimeout` take a
// member out for `failTimeout`. The caller decides whether ejecting is allowed (never the last one).
// Pure: the clock is passed in.

export interface EjectionSettings {
  /** Failures within the window that eject a member; 0 turns passive ejection off. */
  maxFails: number;
  /** The window for counting failures, and how long an ejected member stays out (ms). */
  failTimeoutMs: number;
}

interface Record {
  fails: number;
  firstFailAt: number;
  ejectedUntil: number;
}

export class PassiveHealth {
  #settings: EjectionSettings;
  readonly #records = new Map<string, Record>();

  constructor(settings: EjectionSettings) {
    this.#settings = settings;
  }

  /** New thresholds from now on; counts and ejections in force are kept. */
  configure(settings: EjectionSettings): void {
    this.#settings = settings;
  }

  isEjected(key: string, now: number): boolean {
    const record = this.#records.get(key);
    return record !== undefined && record.ejectedUntil > now;
  }

  /**
   * Counts a failure. Returns true when this failure ejects the member; `mayEject` false (it would be
   * the last healthy member) keeps it in, with its count kept.
   */
  failure(key: string, now: number, mayEject: boolean): boolean {
    const { maxFails, failTimeoutMs } = this.#settings;
    if (maxFails <= 0) return false;
    let record = this.#records.get(key);
    if (!record || now - record.firstFailAt >= failTimeoutMs) {
      record = { fails: 0, firstFailAt: now, ejectedUntil: record?.ejectedUntil ?? 0 };
      this.#records.set(key, record);
    }
    record.fails++;
    if (record.fails < maxFails || !mayEject || record.ejectedUntil > now) return false;
    record.ejectedUntil = now + failTimeoutMs;
    record.fails = 0;
    return true;
  }

  /**
   * Ejects the member now, whatever the count (a request to it timed out), unless `mayEject` is false
   * or maxFails is 0 (ejection off). Returns true when it was ejected by this call.
   */
  eject(key: string, now: number, mayEject: boolean): boolean {
    const { maxFails, failTimeoutMs } = this.#settings;
    if (maxFails <= 0 || !mayEject) return false;
    const record = this.#records.get(key) ?? { fails: 0, firstFailAt: now, ejectedUntil: 0 };
    this.#records.set(key, record);
    if (record.ejectedUntil > now) return false;
    record.ejectedUntil = now + failTimeoutMs;
    record.fails = 0;
    return true;
  }

  /** A success clears the failure count (an ejected member stays out until its time is up). */
  success(key: string): void {
    const record = this.#records.get(key);
    if (record) record.fails = 0;
  }

  forget(key: string): void {
    this.#records.delete(key);
  }
}
