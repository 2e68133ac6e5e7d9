// How the mesh names a service: a SPIFFE id, spiffe://msup.local/<project>/<service>, carried in its
// certificate's URI SAN and checked by the sidecars on both ends of a call. Pure.

export const TRUST_DOMAIN = 'msup.local';

/** The identity of a service of a project. */
export function spiffeId(project: string, service: string): string {
  return `${trustPrefix(project)}${encodeURIComponent(service)}`;
}

/** Every identity of a project starts with this. */
export function trustPrefix(project: string): string {
  return `spiffe://${TRUST_DOMAIN}/${encodeURIComponent(project)}/`;
}
