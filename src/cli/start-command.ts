// `msup start`: runs the supervisor in the foreground, prints its events and the services' output,
// and stops on Ctrl-C (a second Ctrl-C forces it), SIGHUP (a closed terminal) or the loss of its parent.
import { isatty } from 'node:tty';
import { MsupError } from '../errors.js';
import { createLogger, type Logger } from '../log/logger.js';
import { fitStyle, formatOutputLine, type OutputStyle, wantsColor } from '../log/output.js';
import { doneStarting } from '../service/start-verdict.js';
import { createSupervisor, type Supervisor } from '../supervisor.js';
import type { CliArgs } from './args.js';
import { takeDetachedOutput } from './detach.js';
import { droppedOutput } from './dropped-output.js';
import { EXIT } from './exit-codes.js';
import { type HeldSignals, START_SIGNALS } from './held-signals.js';
import type { Stdio } from './output-sink.js';
import { watchParent } from './parent-watch.js';
import { startConfigSource } from './project.js';
import { readySummary } from './ready-summary.js';

/** What the terminal or pipe may hold back before lines are dropped (the log files keep them). */
const OUTPUT_LIMIT = 1024 * 1024;

function summary(sup: Supervisor): string {
  const ready = readySummary({
    services: sup.services(),
    sharedFront: sup.proxyUrl(),
    dashboard: sup.adminUrl(),
  });
  return `all services ready:\n${ready}`;
}

/** Says once per service when all its instances are first ready, and once when everything is. */
function watchReadiness(sup: Supervisor, logger: Logger, json: boolean, print: (text: string) => void): void {
  const announced = new Set<string>();
  let all = false;
  sup.on('instance', () => {
    if (all) return;
    const services = sup.services();
    for (const s of services) {
      // A one-shot run that exited 0 and stays ended (a migration) is done, as start() counts it.
      if (announced.has(s.name) || !s.instances.every(doneStarting)) continue;
      announced.add(s.name);
      const count = `${s.instances.length}/${s.instances.length}`;
      const what = s.instances.some((i) => i.ready) ? 'ready' : 'completed';
      logger.info(
        { service: s.name, instances: s.instances.length, ...(s.url ? { url: s.url } : {}) },
        `${count} ${what}${s.url ? ` at ${s.url}` : ''}`,
      );
    }
    if (announced.size < services.length) return;
    all = true;
    if (json) logger.info({ services: services.map((s) => ({ name: s.name, url: s.url })) }, 'all ready');
    else print(summary(sup));
  });
}

/** `early`: signals that came while this module loaded (main.ts), answered once the command's own are in place. */
export async function startCommand(args: CliArgs, io: Stdio, early?: HeldSignals): Promise<number> {
  const color = args.color ?? wantsColor(isatty(1), process.env);
  const print = (text: string) => io.out.write(text);
  const logger = createLogger({ json: args.json, color, write: print });
  const sup = createSupervisor({
    // The same cwd, config and runtime as the early load started by main.ts, whose answer it takes.
    ...startConfigSource(args),
    // With --wait, start fails (and stops everything) unless all is ready in time: for scripts and CI.
    wait: args.wait !== undefined,
    ...(args.wait !== undefined ? { timeout: args.wait } : {}),
    // The dashboard and /metrics: on by default for the command (the API's start() only when asked).
    admin: args.admin ?? true,
    watch: args.watch,
  });
  // A reader that stops reading gets a bounded backlog, then a count of what was dropped; a reader that is
  // gone (| head, a closed terminal) changes nothing for the services: msup goes on supervising.
  const dropped = droppedOutput(sup, logger);
  io.out.configure({
    limit: OUTPUT_LIMIT,
    onDropped: dropped.onDropped,
    onGone: (error) =>
      io.err.write(
        `msup: its output was closed (${error.code}); msup goes on running: its output is in .msup/logs (msup logs -f), and msup stop stops it\n`,
      ),
  });
  let style: OutputStyle | undefined;
  sup.on('log', ({ level, msg, time: _time, ...fields }) => logger[level](fields, msg));
  // The dashboard's URL carries the run's token: printed here, never written to the log files.
  sup.on('admin', ({ dashboard }) => {
    if (args.json) logger.info({ dashboard }, 'dashboard');
    else print(`dashboard: ${dashboard}\n`);
  });
  sup.on('output', (line) => {
    // In the background nobody reads the output as it comes, and it goes to a file (.msup/msup.out)
    // that is never rotated: the services' lines are in .msup/logs (bounded, `msup logs`) only.
    if (args.background) return;
    if (args.json) {
      print(`${JSON.stringify({ time: new Date().toISOString(), ...line })}\n`);
      return;
    }
    style = fitStyle(style, sup.config.services, line, color);
    print(formatOutputLine(line, style));
  });

  // Ctrl-C or SIGTERM stops gracefully, and a second one forces the stop. A closed terminal (SIGHUP, often
  // sent twice: by the kernel and by the shell) and the loss of the parent only ever stop gracefully.
  let interrupts = 0;
  let forced = false;
  const stop = (fields: Record<string, unknown>, why: string) => {
    if (interrupts++ === 0) {
      logger.info(fields, why);
      void sup.stop();
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (signal === 'SIGHUP') return stop({ signal }, 'stopping: the terminal was closed (SIGHUP)');
    if (interrupts === 0) return stop({ signal }, 'stopping (Ctrl-C again to force)');
    if (forced) return;
    forced = true;
    logger.warn({ signal }, 'forcing stop: SIGKILL to every instance');
    void sup.kill();
  };
  const signals = START_SIGNALS;
  for (const s of signals) process.on(s, onSignal);
  // A script that kills the npx or npm it started msup with means "stop": only --detach outlives it.
  const unwatchParent = args.background
    ? () => {}
    : watchParent((parent) =>
        stop(
          { parent },
          'stopping: the process that started msup is gone (msup start --detach runs msup in the background)',
        ),
      );
  try {
    watchReadiness(sup, logger, args.json, print);
    // The variable must not reach the instances: read (and removed) before anything starts.
    const claim = takeDetachedOutput(args.background === true);
    const started = sup.start();
    // A Ctrl-C that came while this module loaded stops the start under way, as one that comes now.
    for (const signal of early?.take() ?? []) onSignal(signal);
    await started;
    claim(sup.config.root);
    await sup.whenStopped();
    return forced ? EXIT.forced : EXIT.ok;
  } catch (error) {
    await sup.stop();
    if (error instanceof MsupError && error.code === 'MSUP_STOPPED') return forced ? EXIT.forced : EXIT.ok;
    throw error;
  } finally {
    await dropped.stopped();
    early?.take();
    unwatchParent();
    for (const s of signals) process.off(s, onSignal);
  }
}
