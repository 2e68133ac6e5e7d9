// What the control socket's commands do, in terms of the supervisor's public methods.
import { eventRecord, inStream, type LogFileRecord, type StreamName, type TailOptions } from '../log/tail.js';
import type { LogRecord, OutputLine, ServiceInfo } from '../types.js';
import type { StatusV1 } from './protocol.js';
import type { ControlHandler } from './server.js';

export interface ControlTarget {
  status(): Promise<StatusV1>;
  restart(service?: string): Promise<unknown>;
  scale(service: string, count: number): Promise<void>;
  stop(): Promise<void>;
  services(): ServiceInfo[];
  instances(service: string): unknown;
  /** The running config: its services exist before their instances do (an image still being built). */
  readonly config?: { readonly services: readonly { readonly name: string }[] };
  on(event: 'output', listener: (line: OutputLine) => void): unknown;
  on(event: 'log', listener: (record: LogRecord) => void): unknown;
  off(event: 'output', listener: (line: OutputLine) => void): unknown;
  off(event: 'log', listener: (record: LogRecord) => void): unknown;
}

/** The project's log files: the last records logged before the call (`LogFiles.tail`). */
export interface ControlLogs {
  tail(options: TailOptions & { onCut?: () => void }): Promise<LogFileRecord[]>;
}

export function controlHandler(target: ControlTarget, logs?: ControlLogs): ControlHandler {
  return {
    status: () => target.status(),
    restart: (service) => target.restart(service),
    scale: async (counts) => {
      for (const name of Object.keys(counts)) target.instances(name); // unknown names fail before any change
      await Promise.all(Object.entries(counts).map(([name, count]) => target.scale(name, count)));
      return target.services().map((s) => ({ name: s.name, instances: s.instances.length }));
    },
    stop: () => target.stop(),
    // A service's output lines; without a service, every output line and msup's own events too. A service
    // the config names is followed before msup has made it: while msup starts (images are built first,
    // for minutes) `instances` says "still starting", and `msup logs -f web` failed with MSUP_STOPPED.
    // With `stream`, that stream's output lines only, and for stderr msup's warn and error events (inStream).
    follow: (service, send, stream?: StreamName) => {
      if (service !== undefined && !target.config?.services.some((s) => s.name === service)) {
        target.instances(service); // unknown: fails, saying which services there are
      }
      const output = (line: OutputLine) => {
        if (service !== undefined && line.service !== service) return;
        if (stream !== undefined && line.stream !== stream) return;
        send({ kind: 'output', time: new Date().toISOString(), ...line });
      };
      const events = (record: LogRecord) => {
        if (stream === undefined || inStream({ kind: 'event', level: record.level }, stream))
          send(eventRecord(record));
      };
      target.on('output', output);
      if (service === undefined && stream !== 'stdout') target.on('log', events);
      return () => {
        target.off('output', output);
        target.off('log', events);
      };
    },
    ...(logs
      ? {
          tail: (
            service: string | undefined,
            lines: number,
            options: { signal: AbortSignal; onCut: () => void; stream?: StreamName },
          ) => logs.tail({ lines, ...options, ...(service === undefined ? {} : { service }) }),
        }
      : {}),
  };
}
