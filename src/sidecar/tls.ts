// Mutual TLS between sidecars: the mesh port's server context (a client certificate from the project's CA
// required), the clients' agents (the peer's identity checked), and certificate rotation: the server
// swaps its context and the clients take new agents, while connections already open carry on.

import http from 'node:http';
import https from 'node:https';
import type { PeerCertificate } from 'node:tls';
import type { TlsMaterial } from './messages.js';

/** How long a replaced client agent keeps its open connections before they are cut. */
export const RETIRE_AGENT_MS = 30_000;

/** A free keep-alive socket is closed after this (below Node's 5 s server keep-alive timeout). */
export const IDLE_SOCKET_MS = 4000;

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

/** A keep-alive agent for plain HTTP (the app, and peers outside the mesh). */
export function plainAgent(): http.Agent {
  return new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS, scheduling: 'lifo' });
}

/**
 * A keep-alive agent that presents this service's certificate and accepts only a server whose
 * certificate (from the mesh CA) names `identity`.
 */
export function meshAgent(tls: TlsMaterial, identity: string): https.Agent {
  return new https.Agent({
    keepAlive: true,
    timeout: IDLE_SOCKET_MS,
    scheduling: 'lifo',
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    minVersion: 'TLSv1.2',
    // The mesh names services by SPIFFE id, not by host name.
    checkServerIdentity: (_host, cert) =>
      uriSans(cert).includes(identity)
        ? undefined
        : new Error(
            `the peer's certificate does not name ${identity} (it names ${uriSans(cert).join(', ') || 'nothing'})`,
          ),
  });
}

/** Ends a replaced agent: its idle sockets now, the busy ones once their requests had time to finish. */
export function retireAgent(agent: http.Agent, afterMs = RETIRE_AGENT_MS): void {
  for (const sockets of Object.values(agent.freeSockets))
    for (const socket of sockets ?? []) socket.destroy();
  // Sockets still busy finish their request, then go back to this agent's pool: closed at the end.
  setTimeout(() => agent.destroy(), afterMs).unref();
}
