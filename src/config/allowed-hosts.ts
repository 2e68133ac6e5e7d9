// `admin.allowedHosts`: names, besides IP addresses and localhost, that the admin listener answers to in
// `Host` (the DNS name a Prometheus on another machine scrapes it by), as Vite's `server.allowedHosts`
// reads them: `.example.com` is example.com and every name under it. Pure.

/** A host name (letters, digits, `-`, `_`, dots between labels), or one led by a dot for a whole domain. */
const ALLOWED_HOST = /^\.?[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?$/;

export const ALLOWED_HOST_EXPECTED =
  'a host name such as "metrics.example.com", or ".example.com" for it and every name under it (no port, no scheme, no wildcard)';

export function isAllowedHost(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 253 && ALLOWED_HOST.test(value);
}
