// The control protocol: newline-delimited JSON over the project's unix socket, versioned. Pure.
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const PROTOCOL_VERSION = 1;

/** Unix socket paths are limited to about 104 bytes: a long project path falls back to the temp folder. */
export function controlSocketPath(root: string): string {
  const preferred = path.join(root, '.msup', 'control.sock');
  if (Buffer.byteLength(preferred) < 100) return preferred;
  const hash = createHash('sha256').update(path.resolve(root)).digest('hex').slice(0, 16);
  return path.join(os.tmpdir(), `msup-${hash}.sock`);
}

export type Request =
  | { v: 1; id: number; cmd: 'status' }
  | { v: 1; id: number; cmd: 'restart'; service?: string }
  | { v: 1; id: number; cmd: 'scale'; counts: Record<string, number> }
  | { v: 1; id: number; cmd: 'stop' }
  | { v: 1; id: number; cmd: 'follow'; service?: string };

export type Response =
  | { v: 1; id: number; ok: true; result: unknown }
  | { v: 1; id: number; ok: false; error: { code: string; message: string; rollouts?: readonly unknown[] } }
  | { v: 1; id: number; event: 'line'; record: unknown };

export interface ExitSummary {
  code: number | null;
  signal: string | null;
  at: string;
  /** Why the runtime ended it, where it knows (`OOMKilled`). */
  reason?: string;
  /** Why it could not start at all. */
  error?: string;
}

export interface InstanceStatus {
  index: number;
  /** The runtime it runs on. */
  runtime: string;
  /** The runtime's id of the current incarnation (`p4242`, a container's name). */
  id: string | null;
  pid: number | null;
  endpoint: { host: string; port: number } | null;
  port: number | null;
  state: string;
  ready: boolean;
  restarts: number;
  uptimeMs: number | null;
  /** Percent of one core over a short sample; null when unknown. */
  cpuPercent: number | null;
  memoryBytes: number | null;
  lastExit: ExitSummary | null;
  /** The last readiness probe's result. */
  lastProbe: { ok: boolean; detail: string; at: string } | null;
  /** What the instance's runtime says of it beyond these fields, where it says anything. */
  details?: Record<string, unknown>;
}

export interface ServiceStatus {
  name: string;
  url: string | null;
  instances: InstanceStatus[];
}

/** What `msup status --json` prints: version 1. */
export interface StatusV1 {
  version: 1;
  project: string;
  configFile: string | null;
  /** The shared front's URL (`proxy.port`), or null without one. */
  sharedFront: string | null;
  pid: number;
  startedAt: string;
  /** Every instance ready (or finished cleanly). */
  ready: boolean;
  services: ServiceStatus[];
}

export function encode(message: Request | Response): string {
  return `${JSON.stringify(message)}\n`;
}

/** Reads newline-delimited messages from a socket; a peer that sends a line over 1 MB is cut off. */
export function onLines(socket: Socket, onLine: (line: string) => void): void {
  socket.setEncoding('utf8');
  let buffer = '';
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let newline = buffer.indexOf('\n');
    while (newline !== -1) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf('\n');
      if (line.trim() !== '') onLine(line);
    }
    if (buffer.length > 1_000_000) socket.destroy();
  });
}
