// The variable through which a service's instances find another service. Pure.

/** The variable that holds a service's address: `MSUP_<NAME>_URL`, the name upper-cased, other characters `_`. */
export function peerVariable(service: string): string {
  return `MSUP_${service.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_URL`;
}
