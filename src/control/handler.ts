// What the control socket's commands do, in terms of the supervisor's public methods.
import type { OutputLine, ServiceInfo } from '../types.js';
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
  off(event: 'output', listener: (line: OutputLine) => void): unknown;
}

export function controlHandler(target: ControlTarget): ControlHandler {
  return {
    status: () => target.status(),
    restart: (service) => target.restart(service),
    scale: async (counts) => {
      for (const name of Object.keys(counts)) target.instances(name); // unknown names fail before any change
      await Promise.all(Object.entries(counts).map(([name, count]) => target.scale(name, count)));
      return target.services().map((s) => ({ name: s.name, instances: s.instances.length }));
    },
    stop: () => target.stop(),
    follow: (service, send) => {
      if (service !== undefined) target.instances(service);
      const listener = (line: OutputLine) => {
        if (service === undefined || line.service === service)
          send({ time: new Date().toISOString(), ...line });
      };
      target.on('output', listener);
      return () => target.off('output', listener);
    },
  };
}
