// `msup start --detach`: starts msup in the background and returns once every instance is ready,
// or fails naming what went wrong (the background msup then stops by itself: it runs with --wait).
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDuration } from '../config/duration.js';
import { findConfigFile } from '../config/find.js';
import { controlRequest, isNoAnswer } from '../control/client.js';
import type { StatusV1 } from '../control/protocol.js';
import { isMsupError, MsupError } from '../errors.js';
import { removeLeftovers } from '../leftovers.js';
import { packageFile } from '../package-root.js';
import { openPrivate, privateDir } from '../private-files.js';
import type { CliArgs } from './args.js';
import { DEFAULT_WAIT } from './commands.js';
import { EXIT } from './exit-codes.js';
import type { Stdio } from './output-sink.js';
import { readySummary } from './ready-summary.js';

const BIN = packageFile('bin/msup.js');

/** The variable that gives the background msup the name of its output file (`.msup/msup.out.<pid>`). */
export const DETACHED_OUT = 'MSUP_DETACHED_OUT';

/** Names `file` `to`, unless it is gone: the background msup names its own file once it is ready. */
function renameIfThere(file: string, to: string): void {
  try {
    renameSync(file, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** A detached start's output file while it waits: `msup.out.<pid>`, by the pid of its `msup start --detach`. */
const DETACHED_FILE = /^msup\.out\.(?<pid>\d+)$/;

/**
 * In msup, before anything starts: the name of its output file when it runs in the background, taken out
 * of the environment (the instances do not get it). The function it answers is called once msup is ready (it
 * holds the project): the file becomes msup.out, whether or not the command that started msup is still
 * there to do it. Then the files of detached starts that are gone are removed (a start killed before it
 * spawned its msup left an empty one; one whose msup then failed, or lost the project to this one, its
 * output that no one reads): none of them can become msup.out now.
 */
export function takeDetachedOutput(background: boolean): (root: string) => void {
  const file = process.env[DETACHED_OUT];
  delete process.env[DETACHED_OUT];
  const own = background && file && DETACHED_FILE.test(path.basename(file)) ? file : undefined;
  return (root) => {
    if (own) renameIfThere(own, path.join(path.dirname(own), 'msup.out'));
    removeLeftovers(path.join(root, '.msup'), DETACHED_FILE);
  };
}

function lastError(file: string): string {
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  const start = lines.findLastIndex((l) => l.startsWith('msup: '));
  return start === -1 ? lines.slice(-10).join('\n') : lines.slice(start).join('\n');
}

/**
 * The pid of the msup that answers on the project's control socket, if one does. One that does not answer
 * (stopped by kill -STOP) is still there: its error, rather than a second msup over its files.
 */
async function runningPid(root: string): Promise<number | undefined> {
  try {
    return (await controlRequest<StatusV1>(root, { cmd: 'status' })).pid;
  } catch (error) {
    if (isNoAnswer(error)) throw error;
    if (isMsupError(error, 'MSUP_NOT_RUNNING') || isMsupError(error, 'MSUP_CONTROL')) return undefined;
    throw error;
  }
}

export async function detachCommand(args: CliArgs, io: Stdio): Promise<number> {
  // The duration was checked with the arguments.
  const wait = args.wait ?? DEFAULT_WAIT;
  const waitMs = parseDuration(wait) as number;
  const configFile = findConfigFile(process.cwd(), args.config);
  const root = path.dirname(configFile);
  // Another msup runs this project: say so before touching its files (msup.out is its output).
  const running = await runningPid(root);
  if (running !== undefined) {
    throw new MsupError(
      'MSUP_ALREADY_RUNNING',
      `msup is already running for ${root} (pid ${running}); msup stop stops it`,
    );
  }
  const outFile = path.join(root, '.msup', 'msup.out');
  privateDir(path.dirname(outFile));
  // Two detached starts at once both pass the check above, and only one background msup gets the project:
  // each writes its own file, named msup.out only once its msup turned out to be the project's (the other's
  // msup.out is never truncated nor written into).
  const ownFile = `${outFile}.${process.pid}`;
  const out = openPrivate(ownFile, 'w');
  // --background: this command exits once msup is ready, and msup must not stop when its parent goes.
  const flags = ['--background', '--config', configFile, '--wait', wait, '--no-color'];
  if (!args.watch) flags.push('--no-watch');
  if (args.runtime) flags.push('--runtime', args.runtime);
  if (args.admin === false) flags.push('--no-admin');
  else if (args.admin) {
    const host = args.admin.host;
    flags.push(
      '--admin',
      `${host === undefined ? '' : host.includes(':') ? `[${host}]:` : `${host}:`}${args.admin.port}`,
    );
  }
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [BIN, 'start', ...flags], {
      detached: true,
      stdio: ['ignore', out, out],
      // The background msup names its own file msup.out once it is ready, should this command be gone by
      // then (Ctrl-C, a closed terminal: it runs in a session of its own and carries on).
      env: { ...process.env, NO_COLOR: '1', [DETACHED_OUT]: ownFile },
    });
  } catch (error) {
    rmSync(ownFile, { force: true });
    throw error;
  } finally {
    closeSync(out);
  }
  child.unref();
  let exit: number | null | undefined;
  child.once('exit', (code) => {
    exit = code;
  });

  const deadline = Date.now() + waitMs + 5000;
  for (;;) {
    if (exit !== undefined) {
      const error = lastError(ownFile);
      io.err.write(`${error}\n`);
      // It lost the project (or a port) to another msup, whose msup.out that is (or will be): its own output
      // is the error above.
      if (error.includes('[MSUP_ALREADY_RUNNING]') || (await runningPid(root)) !== undefined) {
        rmSync(ownFile, { force: true });
      } else {
        renameIfThere(ownFile, outFile);
        io.err.write(
          `msup: the background msup stopped (exit ${exit}); its output is in ${outFile}, its services' in .msup/logs (msup logs)\n`,
        );
      }
      return exit === 0 || exit === null ? EXIT.failed : exit;
    }
    try {
      const status = await controlRequest<StatusV1>(root, { cmd: 'status' });
      // Only our own background msup counts: another one that started meanwhile makes ours fail (it
      // exits with MSUP_ALREADY_RUNNING, which the check above reports).
      if (status.ready && status.pid === child.pid) {
        renameIfThere(ownFile, outFile);
        if (args.json) io.out.write(`${JSON.stringify(status)}\n`);
        else {
          io.out.write(
            `msup is running in the background (pid ${status.pid}); output in ${outFile}, the services' in msup logs\n`,
          );
          io.out.write(readySummary(status));
        }
        return EXIT.ok;
      }
    } catch (error) {
      // Not listening yet, or going away: the exit check above tells which.
      if (!isMsupError(error, 'MSUP_NOT_RUNNING') && !isMsupError(error, 'MSUP_CONTROL')) throw error;
    }
    if (Date.now() > deadline) {
      // Another msup took the project meanwhile (a config that loads slowly, two starts at once): msup.out
      // is its own; this one's output is the message below.
      const owner = await runningPid(root).catch(() => undefined);
      if (owner !== undefined && owner !== child.pid) rmSync(ownFile, { force: true });
      else renameIfThere(ownFile, outFile);
      io.err.write(`msup: not ready after ${wait}; stopping the background msup\n`);
      child.kill('SIGTERM');
      return EXIT.failed;
    }
    await sleep(100);
  }
}
