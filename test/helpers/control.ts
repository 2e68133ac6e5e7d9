// A control server on a fresh socket with a handler that does only what a test gives it.
import { type ControlHandler, ControlServer } from '../../src/control/server.js';

/** Listens for `root` with `handler`; the rest answer null (status is not asked, follow sends nothing). */
export function fakeControl(root: string, handler: Partial<ControlHandler> = {}): Promise<ControlServer> {
  return ControlServer.open(root, {
    status: async () => {
      throw new Error('not asked');
    },
    restart: async () => null,
    scale: async () => null,
    stop: async () => {},
    follow: () => () => {},
    ...handler,
  });
}
