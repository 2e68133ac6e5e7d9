// `msup start`: runs the supervisor in the foreground, prints its events and the services' output,
// and stops on Ctrl-C (a second Ctrl-C forces it).
import { parseDuration } from '../config/duration.js';
import { MsupError } from '../errors.js';
import { createLogger, type Logger } from '../log/logger.js';
import { formatOutputLine, makeStyle, type OutputStyle, wantsColor } from '../log/output.js';
import { createSupervisor, type Supervisor } from '../supervisor.js';
import type { CliArgs } from './args.js';
import { EXIT } from './exit-codes.js';

function summary(sup: Supervisor): string {
  const services = sup.services();
  const width = Math.max(...services.map((s) => s.name.length));
  const rows = services.map((s) => {
    const ready = s.instances.filter((i) => i.ready).length;
    return `  ${s.name.padEnd(width)}  ${ready}/${s.instances.length}  ${s.url ?? '(no port)'}`;
  });
  const front = sup.proxyUrl();
  const shared = front ? `  shared front: ${front}\n` : '';
  return `all services ready:\n${rows.join('\n')}\n${shared}`;
}

/** Says once per service when all its instances are first ready, and once when everything is. */
function watchReadiness(sup: Supervisor, logger: Logger, json: boolean): void {
  const announced = new Set<string>();
  let all = false;
  sup.on('instance', () => {
    if (all) return;
    const services = sup.services();
    for (const s of services) {
      if (announced.has(s.name) || !s.instances.every((i) => i.ready)) continue;
      announced.add(s.name);
      const count = `${s.instances.length}/${s.instances.length}`;
      logger.info(
        { service: s.name, instances: s.instances.length, ...(s.url ? { url: s.url } : {}) },
        `${count} ready${s.url ? ` at ${s.url}` : ''}`,
      );
    }
    if (announced.size < services.length) return;
    all = true;
    if (json) logger.info({ services: services.map((s) => ({ name: s.name, url: s.url })) }, 'all ready');
    else process.stdout.write(summary(sup));
  });
}

export async function startCommand(args: CliArgs): Promise<number> {
  const color = args.color ?? wantsColor(process.stdout.isTTY, process.env);
  const logger = createLogger({ json: args.json, color });
  if (args.wait !== undefined && parseDuration(args.wait) === undefined) {
    throw new MsupError(
      'MSUP_USAGE',
      `--wait: expected a duration such as '30s', got "${args.wait}" (see msup --help)`,
    );
  }
  const sup = createSupervisor({
    cwd: process.cwd(),
    // With --wait, start fails (and stops everything) unless all is ready in time: for scripts and CI.
    wait: args.wait !== undefined,
    ...(args.wait !== undefined ? { timeout: args.wait } : {}),
    watch: args.watch,
    ...(args.config ? { configFile: args.config } : {}),
  });
  let style: OutputStyle | undefined;
  sup.on('log', ({ level, msg, time: _time, ...fields }) => logger[level](fields, msg));
  sup.on('output', (line) => {
    if (args.json) {
      process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...line })}\n`);
      return;
    }
    style ??= makeStyle(sup.config.services, color);
    process.stdout.write(formatOutputLine(line, style));
  });

  let interrupts = 0;
  let forced = false;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts++;
    if (interrupts === 1) {
      logger.info({ signal }, 'stopping (Ctrl-C again to force)');
      void sup.stop();
    } else if (!forced) {
      forced = true;
      logger.warn({ signal }, 'forcing stop: SIGKILL to every instance');
      void sup.kill();
    }
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  try {
    watchReadiness(sup, logger, args.json);
    await sup.start();
    await sup.whenStopped();
    return forced ? EXIT.forced : EXIT.ok;
  } catch (error) {
    await sup.stop();
    if (error instanceof MsupError && error.code === 'MSUP_STOPPED') return forced ? EXIT.forced : EXIT.ok;
    throw error;
  } finally {
    for (const s of signals) process.off(s, onSignal);
    logger.flush();
  }
}
