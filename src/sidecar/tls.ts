// Mutual TLS between sidecars: the mesh port's server context (a client certificate from the project's CA
// required) and the clients' connect options (the peer's identity checked). On rotation the server swaps
// its context and the clients open new pools, while connections already open carry on.

import type https from 'node:https';
import type { ConnectionOptions, PeerCertificate } from 'node:tls';
import type { TlsMaterial } from './messages.js';

/** The URI SANs of a certificate (`URI:spiffe://...` entries of subjectaltname). */
export function uriSans(cert: Pick<PeerCertificate, 'subjectaltname'> | undefined): string[] {
  const san = cert?.subjectaltname ?? '';
  return san
    .split(/,\s*/)
    .filter((entry) => entry.startsWith('URI:'))
    .map((entry) => entry.slice(4));
}

/** The peer's mesh identity, if its certificate has one under `trustPrefix`. */
export function meshIdentity(
  cert: Pick<PeerCertificate, 'subjectaltname'> | undefined,
  trustPrefix: string,
): string | null {
  return uriSans(cert).find((uri) => uri.startsWith(trustPrefix)) ?? null;
}

/** Options of the mesh port's TLS server: this service's certificate, and a client certificate required. */
export function serverOptions(tls: TlsMaterial): https.ServerOptions {
  return {
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  };
}

/** The connect options of a pool to a peer's sidecar: this service's certificate, and the peer's identity checked. */
export function meshConnectOptions(tls: TlsMaterial, identity: string): ConnectionOptions {
  return {
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    minVersion: 'TLSv1.2',
    rejectUnauthorized: true,
    // The mesh names services by SPIFFE id, not by host name.
    checkServerIdentity: (_host, cert) => {
      if (uriSans(cert).includes(identity)) return undefined;
      const error = new Error(
        `the peer's certificate does not name ${identity} (it names ${uriSans(cert).join(', ') || 'nothing'})`,
      );
      error.name = 'MeshIdentityError';
      return error;
    },
  };
}
