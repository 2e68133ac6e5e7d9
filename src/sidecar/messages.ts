// What msup and a sidecar say to each other over the sidecar's IPC channel (JSON): msup sends the
// settings, the app's address, the peers' endpoints and renewed certificates; the sidecar says when it
// listens and sends its metrics. Shared by both sides; types only, and a check of what arrives.
import type { PeerBreakers } from './breaker.js';
import type { SeriesSnapshot } from './metrics.js';

export interface TlsMaterial {
  /** The project's mesh CA (PEM): the only issuer the sidecar trusts. */
  ca: string;
  /** This service's certificate and key (PEM). */
  cert: string;
  key: string;
}

export interface SidecarSettings {
  retries: number;
  retryBudget: number;
  minRetriesPerSecond: number;
  timeoutMs: number;
  tryTimeoutMs: number;
  breaker: { failures: number; ejectionMs: number; maxEjectionMs: number } | null;
  balancing: 'ewma' | 'least-request';
  mtls: 'strict' | 'permissive';
  /** How long a request body may pause before a 408 (the front's proxy.bodyTimeout; 0: no limit). */
  bodyTimeoutMs: number;
}

/** An instance of a peer service, as the sidecar reaches it. */
export interface PeerEndpoint {
  host: string;
  port: number;
  /** Its sidecar's mesh port (mTLS), or false for an instance outside the mesh (plain HTTP). */
  tls: boolean;
}

export interface InitMessage {
  type: 'init';
  service: string;
  index: number;
  /** This sidecar's identity, as in its certificate: spiffe://msup.local/<project>/<service>. */
  identity: string;
  /** The identities of the mesh start with this: a client with another is refused. */
  trustPrefix: string;
  /** 'http': the sidecar reads requests; 'tcp': its ingress passes bytes through. */
  mode: 'http' | 'tcp';
  host: string;
  ports: { ingress: number; mesh: number };
  /** One listener per peer service the app may call: the app's MSUP_<PEER>_URL points here. */
  outbound: { peer: string; port: number; identity: string }[];
  settings: SidecarSettings;
  tls: TlsMaterial;
  metricsIntervalMs: number;
}

export type ToSidecar =
  | InitMessage
  | { type: 'app'; endpoint: { host: string; port: number } }
  | { type: 'peers'; peer: string; endpoints: PeerEndpoint[] }
  | { type: 'cert'; tls: TlsMaterial };

export type FromSidecar =
  | { type: 'listening' }
  /** Its golden metrics, and its circuit breakers per peer (empty without a breaker). */
  | { type: 'metrics'; seq: number; series: SeriesSnapshot[]; breakers: PeerBreakers[] };

const TO_SIDECAR = new Set(['init', 'app', 'peers', 'cert']);
const FROM_SIDECAR = new Set(['listening', 'metrics']);

export function isToSidecar(message: unknown): message is ToSidecar {
  return (
    typeof message === 'object' && message !== null && TO_SIDECAR.has((message as { type: string }).type)
  );
}

export function isFromSidecar(message: unknown): message is FromSidecar {
  return (
    typeof message === 'object' && message !== null && FROM_SIDECAR.has((message as { type: string }).type)
  );
}
