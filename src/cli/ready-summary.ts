// The lines that say where everything is once all is ready: printed by `msup start` in the foreground
// and by `msup start --detach`, in the same layout (names padded to one column).

export interface SummaryService {
  name: string;
  url?: string | null;
  instances: readonly { ready: boolean }[];
}

export interface SummaryInput {
  services: readonly SummaryService[];
  sharedFront?: string | null;
  dashboard?: string | null;
}

/** One line per service (`  web     3/3  http://...`), then the shared front and the dashboard; each ends in \n. */
export function readySummary({ services, sharedFront, dashboard }: SummaryInput): string {
  const width = Math.max(0, ...services.map((s) => s.name.length));
  const rows = services.map((s) => {
    const ready = s.instances.filter((i) => i.ready).length;
    return `  ${s.name.padEnd(width)}  ${ready}/${s.instances.length}  ${s.url ?? '(no port)'}\n`;
  });
  const shared = sharedFront ? `  shared front: ${sharedFront}\n` : '';
  const admin = dashboard ? `  dashboard: ${dashboard}\n` : '';
  return `${rows.join('')}${shared}${admin}`;
}
