// The lines that say where everything is once all is ready: printed by `msup start` in the foreground
// and by `msup start --detach`, in the same layout (names padded to one column).
import { completed, doneStarting, type StartFacts } from '../service/start-verdict.js';

export interface SummaryService {
  name: string;
  url?: string | null;
  instances: readonly StartFacts[];
}

export interface SummaryInput {
  services: readonly SummaryService[];
  sharedFront?: string | null;
  dashboard?: string | null;
}

/**
 * One line per service (`  web     3/3  http://...`), then the shared front and the dashboard; each ends
 * in \n. A one-shot instance that ended well counts as done, and says so (`  migrate  1/1 (completed)`).
 */
export function readySummary({ services, sharedFront, dashboard }: SummaryInput): string {
  const width = Math.max(0, ...services.map((s) => s.name.length));
  const rows = services.map((s) => {
    const done = s.instances.filter(doneStarting).length;
    return `  ${s.name.padEnd(width)}  ${done}/${s.instances.length}${completedNote(s)}  ${s.url ?? '(no port)'}\n`;
  });
  const shared = sharedFront ? `  shared front: ${sharedFront}\n` : '';
  const admin = dashboard ? `  dashboard: ${dashboard}\n` : '';
  return `${rows.join('')}${shared}${admin}`;
}

/** ` (completed)` when every instance ended well, ` (N completed)` when some did, else nothing. */
export function completedNote(service: SummaryService): string {
  const ended = service.instances.filter(completed).length;
  if (ended === 0) return '';
  return ended === service.instances.length ? ' (completed)' : ` (${ended} completed)`;
}
