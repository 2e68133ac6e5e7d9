// Whether the kernel's out-of-memory killer ended a container. The engine says so on cgroup v2; on
// cgroup v1 hosts podman reports false, but the kernel's log names the container's memory cgroup
// (`oom_memcg=/.../libpod-<id>`): read it, where msup may (root, or kernel.dmesg_restrict=0).
import { closeSync, constants, openSync, readSync } from 'node:fs';

/** The kernel log's records, oldest first; empty when it cannot be read here. */
function kernelLog(): string[] {
  let fd: number;
  try {
    fd = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return [];
  }
  const records: string[] = [];
  const buffer = Buffer.alloc(8192);
  try {
    for (let i = 0; i < 100_000; i++) {
      let n: number;
      try {
        n = readSync(fd, buffer, 0, buffer.length, null);
      } catch (error) {
        // EPIPE: a record was overwritten while reading; go on. EAGAIN: nothing more.
        if ((error as NodeJS.ErrnoException).code === 'EPIPE') continue;
        break;
      }
      if (n <= 0) break;
      records.push(buffer.toString('utf8', 0, n));
    }
  } finally {
    closeSync(fd);
  }
  return records;
}

/** True when the kernel log says its OOM killer acted in the memory cgroup of container `id`. */
export function killedForMemory(id: string): boolean {
  if (!/^[0-9a-f]{12,64}$/.test(id)) return false;
  return kernelLog().some((record) => record.includes('oom-kill:') && record.includes(id));
}
