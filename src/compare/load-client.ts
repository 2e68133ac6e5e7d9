// The compare's side of the load generator: forks it (dist/compare/loadgen.js, from src/ and dist/ alike),
// sends it one load at a time, passes its progress on, and ends it.
import { type ChildProcess, fork } from 'node:child_process';
import { MsupError } from '../errors.js';
import { packageFile } from '../package-root.js';
import type { LoadCommand, LoadMessage, LoadResult } from './load-protocol.js';

/** The built load generator of this copy of msup. */
export const LOADGEN_SCRIPT = packageFile('dist/compare/loadgen.js');

export type LoadSpec = Omit<LoadCommand, 'type' | 'id'>;

export class LoadClient {
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #next = 1;

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Starts the load generator process; resolves once it runs. */
  static async open(): Promise<LoadClient> {
    const child = fork(LOADGEN_SCRIPT, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    return new LoadClient(child);
  }

  /** The load generator's pid (left out of the runtime's footprint). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Runs one load; `onProgress` gets the requests finished so far, about five times a second. */
  run(spec: LoadSpec, onProgress?: (done: number) => void): Promise<LoadResult> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      // Ended before (killed, out of memory): no exit will come to end this load.
      if (!this.#child.connected) {
        reject(new MsupError('MSUP_LOADGEN_ENDED', 'the load generator is not running: it ended before'));
        return;
      }
      const onMessage = (message: LoadMessage) => {
        if (message.id !== id) return;
        if (message.type === 'progress') onProgress?.(message.done);
        else {
          cleanup();
          resolve(message);
        }
      };
      const onExit = () => {
        cleanup();
        reject(new MsupError('MSUP_LOADGEN_ENDED', 'the load generator ended during a load'));
      };
      const cleanup = () => {
        this.#child.off('message', onMessage);
        this.#child.off('exit', onExit);
      };
      this.#child.on('message', onMessage);
      this.#child.once('exit', onExit);
      this.#child.send({ ...spec, type: 'load', id } satisfies LoadCommand, (error) => {
        if (!error) return;
        cleanup();
        reject(
          new MsupError(
            'MSUP_LOADGEN_ENDED',
            `the load generator could not be sent a load: ${error.message}`,
          ),
        );
      });
    });
  }

  /** Ends the load that runs now: no new request is sent, and it resolves with what it got. */
  stopLoad(): void {
    if (this.#child.connected) this.#child.send({ type: 'stop' });
  }

  /** Ends the load generator (a kill if it does not go within 2 s). Safe to call twice. */
  async close(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    if (this.#child.connected) this.#child.disconnect();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 2000);
    await this.#exited;
    clearTimeout(timer);
  }
}
