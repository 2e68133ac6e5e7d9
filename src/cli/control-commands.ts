// `msup status`, `restart`, `scale` and `stop`: one request each to the project's running msup.
import { controlRequest } from '../control/client.js';
import type { StatusV1 } from '../control/protocol.js';
import { isMsupError } from '../errors.js';
import type { RolloutResult } from '../types.js';
import type { CliArgs } from './args.js';
import { parseScale } from './args.js';
import { EXIT } from './exit-codes.js';
import { formatStatus } from './format-status.js';
import type { Stdio } from './output-sink.js';
import { projectRoot } from './project.js';

const printer = (io: Stdio) => (text: string) => io.out.write(text.endsWith('\n') ? text : `${text}\n`);

export async function statusCommand(args: CliArgs, io: Stdio): Promise<number> {
  const print = printer(io);
  const status = await controlRequest<StatusV1>(projectRoot(args.config), { cmd: 'status' });
  print(args.json ? JSON.stringify(status) : formatStatus(status));
  return status.ready ? EXIT.ok : EXIT.failed;
}

export async function restartCommand(args: CliArgs, io: Stdio): Promise<number> {
  const print = printer(io);
  const service = args.rest[0];
  let results: readonly RolloutResult[];
  try {
    results = await controlRequest<RolloutResult[]>(projectRoot(args.config), {
      cmd: 'restart',
      ...(service ? { service } : {}),
    });
  } catch (error) {
    // A rollout that stopped: with --json, what was done is still printed (the last entry's `failed` says
    // where it stopped); the error itself goes to stderr and sets the exit code.
    if (args.json && isMsupError(error, 'MSUP_RESTART_FAILED') && error.rollouts) {
      print(JSON.stringify({ version: 1, restarted: error.rollouts }));
    }
    throw error;
  }
  if (args.json) print(JSON.stringify({ version: 1, restarted: results }));
  else for (const r of results) print(`${r.service}: replaced ${r.restarted.length} instance(s) one by one`);
  return EXIT.ok;
}

export async function scaleCommand(args: CliArgs, io: Stdio): Promise<number> {
  const print = printer(io);
  const counts = parseScale(args.rest);
  const result = await controlRequest<{ name: string; instances: number }[]>(projectRoot(args.config), {
    cmd: 'scale',
    counts,
  });
  if (args.json) print(JSON.stringify({ version: 1, services: result }));
  else for (const s of result.filter((s) => s.name in counts)) print(`${s.name}: ${s.instances} instance(s)`);
  return EXIT.ok;
}

export async function stopCommand(args: CliArgs, io: Stdio): Promise<number> {
  const print = printer(io);
  const root = projectRoot(args.config);
  await controlRequest<null>(root, { cmd: 'stop' });
  print(args.json ? JSON.stringify({ version: 1, stopped: root }) : `stopped msup for ${root}`);
  return EXIT.ok;
}
