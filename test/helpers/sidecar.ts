// Helpers for sidecar tests: an instance's sidecar details (ports, metrics) as status shows them, and a
// TLS client for a mesh port.
import https from 'node:https';
import type { Supervisor } from '../../src/index.js';
import type { SidecarMetrics } from '../../src/runtime/sidecar/report.js';

export interface SidecarDetails {
  sidecar: {
    pid: number;
    identity: string;
    mtls: string;
    ports: { ingress: number; mesh: number; app: number; outbound: Record<string, number> };
  };
  metrics: SidecarMetrics;
}

export function sidecarOf(sup: Supervisor, service: string, index = 0): SidecarDetails {
  const instance = sup.instances(service)[index];
  if (!instance?.details) throw new Error(`${service}#${index} has no details`);
  return instance.details as unknown as SidecarDetails;
}

/** Requests counted on a route of a service's instances, inbound (summed over its instances). */
export function inboundCount(sup: Supervisor, service: string, route: string): number {
  return sup
    .instances(service)
    .reduce(
      (n, i) =>
        n + ((i.details as unknown as SidecarDetails | undefined)?.metrics.inbound[route]?.requests ?? 0),
      0,
    );
}

/** A GET to a mesh port over TLS, with a client certificate or none; resolves with the status or the error. */
export function meshGet(
  port: number,
  path: string,
  tls: { ca?: string; cert?: string; key?: string } = {},
): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = https.get(
      { host: '127.0.0.1', port, path, agent: false, rejectUnauthorized: false, ...tls },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', (e) => resolve({ error: e.message }));
      },
    );
    req.on('error', (e) => resolve({ error: e.message }));
    req.setTimeout(5000, () => req.destroy(new Error('timed out')));
  });
}
