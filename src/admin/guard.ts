// Who may use the admin listener: every request must name this listener in `Host` (an IP address,
// localhost, the configured host, or a name the config allows: a DNS-rebinding page names its own domain), and an action must
// also carry the run's token and, when the browser sends an `Origin`, come from the dashboard's own
// origin (another page open in the same browser cannot act: CSRF). Pure.
import { timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

export const TOKEN_HEADER = 'x-msup-token';

export interface GuardSettings {
  /** The admin listener's port (the Origin of an action must match its `Host`, whatever the port). */
  port: number;
  /** The host it was configured with (a name is allowed in `Host` besides IP addresses and localhost). */
  host: string;
  /** `admin.allowedHosts`: more names allowed in `Host`; `.example.com` is example.com and every name under it. */
  allowedHosts?: readonly string[];
  token: string;
}

/** `127.0.0.1:9100` → `127.0.0.1`, `[::1]:9100` → `::1`; port null when absent; undefined when unreadable. */
export function splitHost(value: string): { name: string; port: number | null } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(value.trim());
  if (!match) return undefined;
  const name = (match[1] ?? match[2] ?? '').toLowerCase().replace(/\.$/, '');
  return { name, port: match[3] === undefined ? null : Number(match[3]) };
}

/**
 * Whether `Host` names this listener: an IP address, localhost (or a name under .localhost), the configured
 * host, or a name `allowedHosts` gives, on any port.
 */
export function hostAllowed(host: string | undefined, settings: GuardSettings): boolean {
  if (host === undefined) return false;
  const parsed = splitHost(host);
  if (!parsed) return false;
  // Any port: a tunnel (ssh -L 9200:127.0.0.1:9100) or a port forward names its own, and a rebinding
  // page keeps the port anyway; the name is what it changes.
  const { name } = parsed;
  return (
    isIP(name) !== 0 ||
    name === 'localhost' ||
    name.endsWith('.localhost') ||
    name === settings.host.toLowerCase() ||
    (settings.allowedHosts ?? []).some((allowed) => allowedName(name, allowed))
  );
}

/** `name` (lower case, no trailing dot) is `allowed`, or under it when `allowed` starts with a dot (as Vite reads it). */
function allowedName(name: string, allowed: string): boolean {
  const entry = allowed.toLowerCase().replace(/\.$/, '');
  if (!entry.startsWith('.')) return name === entry;
  return name === entry.slice(1) || name.endsWith(entry);
}

/** Compares two tokens in constant time. */
export function tokenMatches(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  // Lengths in bytes: a token of the right length in characters but not in bytes (é) made
  // timingSafeEqual throw, a 500 instead of a 403.
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export type Refusal = { status: 403 | 421; reason: string };

/** Why a request may not be served at all (a foreign `Host`), or undefined. */
export function refuseRequest(
  headers: { host?: string | undefined },
  settings: GuardSettings,
): Refusal | undefined {
  if (!hostAllowed(headers.host, settings)) {
    return {
      status: 421,
      // The way out named: a scrape by a DNS name is refused until the config allows the name.
      reason: `the Host header (${headers.host ?? 'none'}) does not name this admin listener (a name it should answer to goes in admin.allowedHosts)`,
    };
  }
  return undefined;
}

/**
 * Why an action may not run, or undefined: a foreign `Host`, an `Origin` other than the listener's own
 * (a missing one is allowed: only browsers send it, and they always do on a cross-origin POST), or a
 * missing or wrong token.
 */
export function refuseAction(
  headers: { host?: string | undefined; origin?: string | undefined; token?: string | undefined },
  settings: GuardSettings,
): Refusal | undefined {
  const request = refuseRequest(headers, settings);
  if (request) return request;
  if (headers.origin !== undefined) {
    let origin: URL | undefined;
    try {
      origin = new URL(headers.origin);
    } catch {
      origin = undefined;
    }
    if (origin?.protocol !== 'http:' || origin.host !== headers.host?.toLowerCase()) {
      return { status: 403, reason: `requests from ${headers.origin} may not act on this msup` };
    }
  }
  if (!tokenMatches(headers.token, settings.token)) {
    return { status: 403, reason: 'this action needs the token of the dashboard URL msup printed at start' };
  }
  return undefined;
}
