// The watchers of a running project: one per service with `watch`, one on the config file, each
// change reported once per burst, and a service that keeps changing its own files paused.
import type { ResolvedConfig, ResolvedService } from '../types.js';
import { ErrorLines } from './error-lines.js';
import { LoopGuard, type LoopGuardOptions, type LoopRule } from './loop-guard.js';
import { watchesSomething } from './patterns.js';
import {
  createWatcher,
  fileNames,
  type ServiceWatcher,
  type SkippedLink,
  type Watcher,
  watchedAt,
  watchFile,
} from './watcher.js';

export interface WatchSetHandlers {
  /**
   * A burst of changes to a service's files: the restart it asks for (a promise that settles when that
   * restart has ended), or undefined when it asks for none (folded into a restart already queued).
   */
  serviceChanged(service: string, files: string[]): Promise<unknown> | undefined;
  /** Whether a change-triggered restart of the service is queued, so that a new burst folds into it. */
  restartQueued(service: string): boolean;
  configChanged(): void;
  /**
   * A service restarted too often because of its own writes: its watching is paused. `files` is the
   * burst that would have been one restart too many (what the service keeps writing).
   */
  loop(service: string, why: LoopRule, files: string[]): void;
  /**
   * A watcher's error: the first few each, then at most one per 10 s, the latest, with `suppressed`, the
   * count of that watcher's errors since the one before that are not reported.
   */
  error(where: string, error: Error, suppressed: number): void;
  /** A symbolic link in a service's watched files that is not followed: once per link and watcher. */
  linkSkipped(service: string, skipped: SkippedLink): void;
  /** The count of the links not followed past the first LINKS_TOLD a watcher told: once per watcher. */
  linksUntold(service: string, count: number): void;
}

interface ServiceWatch {
  settings: ResolvedService['watch'];
  cwd: string;
  /** The config file's names the watcher takes for msup's own (configKey). */
  config: string;
  watcher: ServiceWatcher;
  guard: LoopGuard;
  errors: ErrorLines;
}

/**
 * The config file and the real path a link there leads to, and where each is watched (a link to a file
 * not made yet: the nearest folder there is on the way). When it changes (a link made to lead elsewhere),
 * the config's watcher starts over, and the services' watchers watch on, only taking the new names for
 * msup's own (setMsupFiles).
 */
const configKey = (file: string | null) =>
  file
    ? fileNames(file)
        .map((name) => `${name}\0${watchedAt(name).folder}`)
        .join('\0')
    : '';

export class WatchSet {
  readonly #handlers: WatchSetHandlers;
  readonly #now: () => number;
  readonly #services = new Map<string, ServiceWatch>();
  #configWatcher: Watcher | undefined;
  #configErrors: ErrorLines | undefined;
  /** The config file watched, with the real path a link there led to then (configKey). */
  #config = '';
  #closed = false;

  readonly #guardOptions: LoopGuardOptions;

  constructor(handlers: WatchSetHandlers, now: () => number = Date.now, guard: LoopGuardOptions = {}) {
    this.#handlers = handlers;
    this.#now = now;
    this.#guardOptions = guard;
  }

  /** Watches what `config` asks for: new watchers start, changed ones restart, removed ones close. */
  sync(config: ResolvedConfig): Promise<void> {
    return this.#sync(config, true);
  }

  /**
   * Follows the config file where it leads now, `config` being the running config: when it is a symbolic
   * link made to lead elsewhere (ln -sf, stow), the config's watcher watches the file it leads to now, and
   * the services' watchers take that file for msup's own, watching on: a change of a service's files seen
   * and not reported yet, or made meanwhile, still restarts it. Nothing else changes: a service paused for
   * a restart loop stays paused. For a reload, before the file loads: one that fails to load
   * is watched all the same, and fixing it reloads.
   */
  followConfigFile(config: ResolvedConfig): Promise<void> {
    return this.#sync(config, false);
  }

  /** `resume`: a service `config` watches that has no watcher (paused) is watched again. */
  async #sync(config: ResolvedConfig, resume: boolean): Promise<void> {
    if (this.#closed) return;
    const wanted = new Map(config.services.filter((s) => watchesSomething(s.watch)).map((s) => [s.name, s]));
    // a config file that is a link may lead elsewhere now (stow, ln -sf): its watchers take the file it
    // leads to for msup's own, and watch on (one started over would drop a change seen and not reported
    // yet, and miss one made before it is ready)
    const key = configKey(config.file);
    const startedOver = new Set<string>();
    for (const [name, current] of this.#services) {
      const next = wanted.get(name);
      if (
        next &&
        JSON.stringify(next.watch) === JSON.stringify(current.settings) &&
        next.cwd === current.cwd
      ) {
        if (current.config !== key) {
          current.watcher.setMsupFiles(config.file ? [config.file] : []);
          current.config = key;
        }
        continue;
      }
      this.#services.delete(name);
      startedOver.add(name);
      await current.watcher.close();
      current.errors.close();
      // close() came meanwhile: nothing new is watched after it.
      if (this.#closed) return;
    }
    for (const [name, service] of wanted) {
      if (!this.#services.has(name) && (resume || startedOver.has(name)))
        this.#watch(name, service, config.file);
    }
    if (key !== this.#config) {
      await this.#configWatcher?.close();
      this.#configWatcher = undefined;
      this.#configErrors?.close();
      this.#configErrors = undefined;
      if (this.#closed) return;
      this.#config = key;
      if (config.file) {
        const errors = this.#errorLines('config');
        this.#configErrors = errors;
        this.#configWatcher = watchFile(config.file, {
          onChange: () => this.#handlers.configChanged(),
          onError: (error) => errors.report(error),
        });
      }
    }
    await Promise.all([...this.#services.values()].map((s) => s.watcher.ready));
    await this.#configWatcher?.ready;
  }

  /**
   * Watches a service again after a restart loop paused it (a manual restart: the user says the cause
   * is dealt with). Resolves true when it was paused and watches again.
   */
  async resume(name: string, config: ResolvedConfig): Promise<boolean> {
    const service = config.services.find((s) => s.name === name);
    if (this.#closed || !service || !watchesSomething(service.watch) || this.#services.has(name))
      return false;
    await this.#watch(name, service, config.file).ready;
    return true;
  }

  /** `configFile`: a config reload applies its edits; they are no change of the service's files. */
  #watch(name: string, service: ResolvedService, configFile: string | null): ServiceWatcher {
    const watch = service.watch as NonNullable<ResolvedService['watch']>;
    const guard = new LoopGuard(this.#guardOptions);
    const errors = this.#errorLines(name);
    const watcher = createWatcher({
      cwd: service.cwd,
      paths: watch.paths,
      ignored: watch.ignored,
      msupFiles: configFile ? [configFile] : [],
      onChange: (files) => {
        // A burst folded into a restart already queued asks for no restart of its own: not counted.
        const counted = !this.#handlers.restartQueued(name);
        if (counted && guard.record(this.#now()) === 'loop') {
          this.#services.delete(name);
          void watcher.close().then(() => errors.close());
          this.#handlers.loop(name, guard.verdict, files);
          return;
        }
        const restart = this.#handlers.serviceChanged(name, files);
        if (!counted) return;
        const ended = () => guard.ended(this.#now());
        if (restart) restart.then(ended, ended);
        else ended();
      },
      onError: (error) => errors.report(error),
      onLinkSkipped: (skipped) => this.#handlers.linkSkipped(name, skipped),
      onLinksUntold: (count) => this.#handlers.linksUntold(name, count),
    });
    this.#services.set(name, {
      settings: watch,
      cwd: service.cwd,
      config: configKey(configFile),
      watcher,
      guard,
      errors,
    });
    return watcher;
  }

  #errorLines(where: string): ErrorLines {
    return new ErrorLines(({ error, suppressed }) => this.#handlers.error(where, error, suppressed));
  }

  async close(): Promise<void> {
    this.#closed = true;
    const watchers: Watcher[] = [...this.#services.values()].map((s) => s.watcher);
    const errors = [...this.#services.values()].map((s) => s.errors);
    if (this.#configWatcher) watchers.push(this.#configWatcher);
    if (this.#configErrors) errors.push(this.#configErrors);
    this.#services.clear();
    this.#configWatcher = undefined;
    this.#configErrors = undefined;
    await Promise.all(watchers.map((w) => w.close()));
    for (const lines of errors) lines.close();
  }
}
