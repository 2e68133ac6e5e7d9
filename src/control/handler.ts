// What the control socket's commands do, in terms of the supervisor's public methods.
import { eventRecord, type LogFileRecord, type TailOptions } from '../log/tail.js';
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
    // A service's output lines; without a service, every output line and msup's own events too.
    follow: (service, send) => {
      if (service !== undefined) target.instances(service);
      const output = (line: OutputLine) => {
        if (service === undefined || line.service === service)
          send({ kind: 'output', time: new Date().toISOString(), ...line });
      };
      const events = (record: LogRecord) => send(eventRecord(record));
      target.on('output', output);
      if (service === undefined) target.on('log', events);
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
            options: { signal: AbortSignal; onCut: () => void },
          ) => logs.tail({ lines, ...options, ...(service === undefined ? {} : { service }) }),
        }
      : {}),
  };
}
