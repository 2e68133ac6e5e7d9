// Finds processes by an environment tag, so a test can prove nothing it started outlives it.
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface TaggedProcess {
  pid: number;
  command: string;
}

/** Live (non-zombie) processes whose environment contains MSUP_TEST_TAG=<tag>. */
export function taggedProcesses(tag: string): TaggedProcess[] {
  const needle = `MSUP_TEST_TAG=${tag}\0`;
  const found: TaggedProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (!readFileSync(`/proc/${entry}/environ`, 'latin1').includes(needle)) continue;
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      found.push({ pid: Number(entry), command });
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

/** Waits up to `timeoutMs` for a condition; returns whether it held. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, pollMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(pollMs);
  }
}

/** Throws, naming the survivors, if any tagged process is still alive after `timeoutMs`. */
export async function expectNoTaggedProcesses(tag: string, timeoutMs = 3000): Promise<void> {
  if (await waitFor(() => taggedProcesses(tag).length === 0, timeoutMs)) return;
  const left = taggedProcesses(tag);
  for (const p of left) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {}
  }
  throw new Error(
    `processes outlived the supervisor:\n${left.map((p) => `  ${p.pid} ${p.command}`).join('\n')}`,
  );
}
