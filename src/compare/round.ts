// One round of one runtime: start the config on it through the library, wait until ready, a first
// request, a warm-up, the warm load (latency, throughput, footprint, CPU), instances killed under load,
// one after another (failed requests, time to a replacement serving), the warm load again, four idle periods
// (eight for a function), each followed by a first request to each instance, then stop.
import { cpus as machineCpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { MsupError } from '../errors.js';
import { createSupervisor, type Supervisor } from '../supervisor.js';
import type { InstanceInfo, MsupConfig, RuntimeName } from '../types.js';
import { backgroundShare, markBackground } from './background.js';
import { alwaysOnCost, type CostModel, functionCost } from './cost.js';
import { type Footprint, footprint } from './footprint.js';
import type { LoadClient } from './load-client.js';
import {
  describeFailures,
  ERROR_SHARE_THRESHOLD,
  errorShare,
  failures,
  loadFigures,
  warmLoadFailure,
} from './load-figures.js';
import type { LoadResult } from './load-protocol.js';
import type { RoundSamples } from './metrics.js';
import { histogram, median } from './stats.js';
import { onDemand, pickTarget, type Target } from './target.js';
import type { ComparePhase, CompareProgress, MemorySample, MetricId } from './types.js';

const SAMPLE_EVERY_MS = 250;
const REQUEST_TIMEOUT_MS = 10_000;
const RECOVERY_LIMIT_MS = 30_000;
/** Kills of the recovery phase, one after the other (each a different instance where there are several). */
const RECOVERY_KILLS = 3;
/**
 * Kills of an on-demand runtime's environments (a function's). Each is about a second, and each is one
 * draw of two things that move: when the load next finds every warm environment busy (10 to 100 ms after
 * the kill) and an init under load (200 to 250 ms); with three a round, two compares were 20-22% apart on
 * the row in two pairs of eight.
 */
const RECOVERY_KILLS_ON_DEMAND = 8;
/** Probes of a first request (after ready, after idle): one per instance, at most this many. */
const PROBES_MAX = 5;
/**
 * Idle periods of a round, each followed by its probes: a first request after idle is a single request, and
 * the first of them after the machine sat idle took 1-3 ms more than the next ones (measured straight to an
 * instance too, without msup's front). With two, the rows after idle were the ones most often apart between
 * two compares (a container's 8%, a sidecar's 12% in root mean square over 15 pairs); the requests of two
 * compares pooled, as four periods give, came 5% and 7% apart. Each period is `idle` (3 s) a round.
 */
const IDLE_PERIODS = 4;
/**
 * Idle periods of an on-demand runtime's round: a function gives one request after each (its pool hands
 * requests to its first warm environment), where an always-on runtime gives one per instance. With four,
 * a function's row stood on 20 requests a compare and was still the row most often apart between two
 * (16% in root mean square over 15 pairs, more than 20% in 2); twice the requests, pooled from two
 * compares, came 9% apart, none over 20%.
 */
const IDLE_PERIODS_ON_DEMAND = 8;
/**
 * Requests of the load that brings a runtime back to a steady state after the kills, at most: what it was
 * when it was the warm load's 2000 (the default warm load is 8000 since; four times as many here would add
 * about a minute to a compare for nothing measured).
 */
const SETTLE_REQUESTS = 2000;

export interface RoundSettings {
  runtime: string;
  cwd: string;
  configFile?: string;
  config?: MsupConfig;
  requests: number;
  concurrency: number;
  durationMs: number;
  idleMs: number;
  /** The URL path of the load (`--path`); without it, the target's own (see pickTarget). */
  path?: string;
  startTimeoutMs: number;
  load: LoadClient;
  progress: (event: Omit<CompareProgress, 'runtime' | 'round' | 'rounds' | 'maxRounds'>) => void;
}

export interface RoundOutcome {
  values: Partial<Record<MetricId, number | null>>;
  /** The single requests behind the first-request rows, and each kill's time behind the recovery row. */
  samples: RoundSamples;
  histogram: number[];
  memory: MemorySample[];
  target: Target;
  onDemand: boolean;
  cost: CostModel | null;
  notes: string[];
  /**
   * The share of the machine's CPU that other work used in each idle period (null where it could not be
   * read: no /proc).
   */
  background: (number | null)[];
  /**
   * The share of the machine's CPU that other work used during the warm load (null where it could not be
   * read): work that competes with the runtime for the cores, which the idle periods do not see.
   */
  loadBackground: number | null;
}

/**
 * Runs one round; rejects (having stopped everything) when the runtime does not start, or when its warm
 * load got no successful answer (MSUP_LOAD_FAILED: nothing was measured).
 */
export async function runRound(s: RoundSettings): Promise<RoundOutcome> {
  const sup = createSupervisor({
    cwd: s.cwd,
    ...(s.configFile === undefined ? {} : { configFile: s.configFile }),
    ...(s.config === undefined ? {} : { config: s.config }),
    runtime: s.runtime as RuntimeName,
    control: false,
    watch: false,
    timeout: s.startTimeoutMs,
  });
  const readyAfter = new Map<string, number>();
  sup.on('instance', (info) => {
    const key = `${info.service}#${info.index}:${info.id}`;
    if (info.ready && info.startedAt !== null && !readyAfter.has(key)) {
      readyAfter.set(key, Date.now() - info.startedAt);
    }
  });
  sup.on('log', () => {}); // events are the CLI's business; a compare keeps its own lines
  s.progress({ phase: 'start', message: 'starting the config' });
  const t0 = performance.now();
  await sup.start();
  try {
    return await measure(sup, s, performance.now() - t0, readyAfter);
  } finally {
    s.progress({ phase: 'stop', message: 'stopping' });
    await sup.stop();
  }
}

async function measure(
  sup: Supervisor,
  s: RoundSettings,
  startToReadyMs: number,
  readyAfter: ReadonlyMap<string, number>,
): Promise<RoundOutcome> {
  const target = pickTarget(sup.config, s.path);
  if (!target) {
    throw new MsupError(
      'MSUP_NOTHING_TO_COMPARE',
      s.path === undefined
        ? 'the config has no service that answers HTTP (a port, or a route of the shared front) to send requests to'
        : `the config has no service that answers HTTP for ${s.path} (a route of the shared front for it, or a service with a port) to send requests to`,
    );
  }
  const base = target.via === 'front' ? (sup.proxyUrl() as string) : sup.url(target.service);
  const url = `${base}${target.path}`;
  const notes: string[] = [];
  const values: Partial<Record<MetricId, number | null>> = { startToReadyMs };
  const samples: RoundSamples = {};
  const roundStart = performance.now();
  const memory: MemorySample[] = [];
  let phase: ComparePhase = 'start';
  const exclude = s.load.pid === undefined ? [] : [s.load.pid];
  const instances = () => sup.instances(target.service);
  const details = () => onDemand(instances()[0]);
  let envPeak = 0;
  const pids = () =>
    sup
      .services()
      .flatMap((x) => x.instances)
      .map((i) => i.pid)
      .filter((p): p is number => p !== null);
  const cpus = machineCpus().length;
  const sample = async (): Promise<Footprint> => {
    const f = await footprint(pids(), exclude);
    memory.push({ tMs: Math.round(performance.now() - roundStart), rssBytes: f.rssBytes, phase });
    const d = details();
    if (d) envPeak = Math.max(envPeak, d.environments.warm + d.environments.starting);
    return f;
  };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await sample();
      await sleep(SAMPLE_EVERY_MS);
    }
  })();
  const load = (requests: number, onDone?: (done: number) => void) =>
    s.load.run(
      {
        url,
        requests,
        concurrency: Math.min(s.concurrency, requests),
        durationMs: s.durationMs,
        timeoutMs: REQUEST_TIMEOUT_MS,
      },
      onDone,
    );
  try {
    const isOnDemand = details() !== null;
    // Cold start per instance: launch → ready of each of the target's instances; for on-demand ones,
    // each environment's init (after the first request starts one).
    // (A function's instance is its gateway, ready in a few milliseconds: not a cold start.)
    const coldStarts = isOnDemand
      ? []
      : [...readyAfter].filter(([k]) => k.startsWith(`${target.service}#`)).map(([, ms]) => ms);

    phase = 'first-request';
    s.progress({ phase, message: `first request to ${target.path} (${target.service})` });
    // One request is one sample: on a busy machine it moved 3x from round to round. An always-on runtime
    // has each instance's first request to give (round-robin sends one to each, in turn); a function has
    // one, the one that starts its first environment.
    samples.firstRequestMs = await probes(load, isOnDemand ? 1 : instances().length);
    values.firstRequestMs = median(samples.firstRequestMs);
    if (isOnDemand) {
      const inits = (details()?.list ?? []).map((e) => e.initMs).filter((m): m is number => m !== null);
      values.firstRequestInitMs = inits.length > 0 ? Math.max(...inits) : null;
    }

    phase = 'warm-up';
    // A quarter of the warm load (at least 5 per client): enough for V8 to compile the hot paths of msup's
    // front and of the load generator, which live as long as the compare does. With 40 requests, the first
    // runtime of the first round was measured half as fast as in later rounds (its p50 2-3x, its CPU 1.8x).
    // The whole load instead (tried 2026-12-05: in 8 rounds of process and container it steadied the
    // container's p50 ratio from round to round) did not bring two compares closer: 3 of 7 pairs agreed on
    // all 46, the container's p50 no closer; their p99 rows were further apart than the day before, but so
    // were those of 3 pairs with a quarter again in the same hours (the container's p99 25.7% apart in
    // root mean square). Not kept: it cost 0.4 s a round for nothing shown.
    const warmup = Math.min(s.requests, Math.max(s.concurrency * 5, Math.ceil(s.requests / 4)));
    s.progress({ phase, message: `warm-up: ${warmup} requests` });
    await load(warmup);
    if (isOnDemand) {
      const inits = (details()?.list ?? []).map((e) => e.initMs).filter((m): m is number => m !== null);
      coldStarts.push(...inits);
    }
    values.coldStartMs = median(coldStarts);
    values.coldStartMaxMs = coldStarts.length > 0 ? Math.max(...coldStarts) : null;
    if (coldStarts.length > 0) {
      samples.coldStartMs = coldStarts;
      samples.coldStartMaxMs = coldStarts;
    }

    phase = 'load';
    s.progress({
      phase,
      message: `warm load: ${s.requests} requests at concurrency ${s.concurrency}`,
      done: 0,
      total: s.requests,
    });
    // Other work during the warm load, as in the idle periods (the marks outside the CPU figure's samples:
    // reading every process's /proc costs msup some CPU).
    const loadFrom = await markBackground(pids());
    const atStart = await sample();
    const loadStart = memory.length;
    const warm = await load(s.requests, (done) =>
      s.progress({ phase: 'load', message: 'warm load', done, total: s.requests }),
    );
    const atEnd = await sample();
    const loadTo = await markBackground(pids());
    const loadBackground = loadFrom && loadTo ? backgroundShare(loadFrom, loadTo, cpus) : null;
    // A warm load without one successful answer measured nothing: a runtime that fails fast would look
    // faster and cheaper than one that works. The round fails (and the runtime with it).
    const failed = warmLoadFailure(warm, target.path, s.durationMs);
    if (failed !== null) throw new MsupError('MSUP_LOAD_FAILED', failed);
    Object.assign(values, loadFigures(warm));
    const share = errorShare(warm) ?? 0;
    if (share > ERROR_SHARE_THRESHOLD) {
      notes.push(
        `the warm load: ${failures(warm)} of ${warm.sent} requests to ${target.path} failed (${describeFailures(warm)}), over ${ERROR_SHARE_THRESHOLD * 100}%: its latency, throughput and cost count the ${warm.latenciesMs.length} successful answers only`,
      );
    }
    // Without /proc (not Linux) no process is read: no figure, rather than 0.
    const read = atStart.processes > 0 && atEnd.processes > 0;
    values.cpuSeconds = read ? (atEnd.cpuMs - atStart.cpuMs) / 1000 : null;
    values.rssLoadBytes = read ? Math.max(...memory.slice(loadStart).map((m) => m.rssBytes)) : null;

    phase = 'recovery';
    const recovered = await recovery(sup, s, target, load, notes);
    Object.assign(values, recovered.values);
    if (recovered.times.length > 0) samples.recoveryMs = recovered.times;
    // Back to a steady state before the idle periods: the replacements have served only the last moments
    // of a kill's load. A load like the warm one (SETTLE_REQUESTS at most), measured for nothing. (Since a
    // function's eight kills, its first request after idle took 3 to 7 ms more in 16 of 100 first idle
    // periods, against 3 of 70 with three kills; with this load, in 9 of 80 periods: it did not bring the
    // rate back, cause not found.)
    const settle = Math.min(s.requests, SETTLE_REQUESTS);
    s.progress({ phase, message: `settling after the kills: ${settle} requests` });
    await load(settle);

    phase = 'idle';
    samples.firstAfterIdleMs = [];
    const background: (number | null)[] = [];
    const periods = isOnDemand ? IDLE_PERIODS_ON_DEMAND : IDLE_PERIODS;
    for (let period = 1; period <= periods; period++) {
      s.progress({ phase, message: `idle for ${s.idleMs} ms (${period} of ${periods})` });
      const from = await markBackground(pids());
      await sleep(s.idleMs);
      const to = await markBackground(pids());
      background.push(from && to ? backgroundShare(from, to, cpus) : null);
      const after = details();
      if (period === 1) {
        const idle = await sample();
        values.rssIdleBytes = idle.processes > 0 ? idle.rssBytes : null;
        if (after && after.environments.warm > 0) {
          notes.push(
            `${after.environments.warm} environment(s) still warm after ${s.idleMs} ms idle: they end after the function's idleTimeout`,
          );
        }
      }
      // Each instance that sat idle gives one probe (each a new connection); a function one: the pool
      // hands requests one after the other to its first warm environment, so only the first of them
      // would come after idle (or it is the one that starts an environment again).
      samples.firstAfterIdleMs.push(...(await probes(load, after ? 1 : instances().length)));
    }
    values.firstAfterIdleMs = median(samples.firstAfterIdleMs);

    const d = details();
    values.coldStarts = d ? d.coldStarts : null;
    values.environmentsPeak = d ? envPeak : null;
    const cost = d
      ? functionCost({ requests: d.cost.requests, usdTotal: d.cost.usd.total, gbSeconds: d.cost.gbSeconds })
      : alwaysOnCost({
          instances: instances().length,
          memoryMb: sup.config.services.find((x) => x.name === target.service)?.memoryMb ?? null,
          cpus: sup.config.services.find((x) => x.name === target.service)?.cpus ?? null,
          throughputRps: values.throughputRps ?? 0,
        });
    values.costPerMillionUsd = cost.usdPerMillion;
    values.costIdleHourUsd = cost.usdPerIdleHour;
    return {
      values,
      samples,
      histogram: histogram(warm.latenciesMs),
      memory,
      target,
      onDemand: isOnDemand,
      cost,
      notes,
      background,
      loadBackground,
    };
  } finally {
    sampling = false;
    await sampler;
  }
}

/**
 * The latencies of `count` requests sent one after the other, each on a new connection (at most PROBES_MAX),
 * that were answered successfully.
 */
async function probes(load: (requests: number) => Promise<LoadResult>, count: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < Math.max(1, Math.min(count, PROBES_MAX)); i++) {
    latencies.push(...(await load(1)).latenciesMs);
  }
  return latencies;
}

/**
 * Kills under load, one at a time (RECOVERY_KILLS at most, each a different instance of an always-on
 * runtime, or RECOVERY_KILLS_ON_DEMAND running environments of a function): per kill, the requests that
 * failed and the time until a replacement serves; the median of each, and each kill's time (the round's
 * ratio is taken over every kill of both runtimes, as for single requests). One kill is one sample of a
 * restart that competes for two cores with the load: a process's recovery moved from 250 to 390 ms between
 * rounds, and one kill per round made the recovery row the one most often apart between two compares.
 */
async function recovery(
  sup: Supervisor,
  s: RoundSettings,
  target: Target,
  load: (requests: number) => Promise<LoadResult>,
  notes: string[],
): Promise<{ values: Partial<Record<MetricId, number | null>>; times: number[] }> {
  const first = sup.instances(target.service);
  // Each kill takes a different instance: a second kill of the same one would wait for a longer backoff.
  const kills = onDemand(first[0]) ? RECOVERY_KILLS_ON_DEMAND : Math.min(RECOVERY_KILLS, first.length);
  const failed: number[] = [];
  const times: number[] = [];
  const killed: Killed = { indexes: new Set(), pids: new Set() };
  for (let k = 0; k < kills; k++) {
    const one = await recoverOnce(sup, s, target, load, notes, killed, `kill ${k + 1} of ${kills}`);
    if (one === null) break;
    failed.push(one.failed);
    // No replacement within the time limit (said in the notes): the row says so (no figure), rather
    // than the median of the kills that did recover; another kill would only wait as long.
    if (one.ms === null) return { values: { recoveryFailed: median(failed), recoveryMs: null }, times: [] };
    times.push(one.ms);
  }
  if (times.length > 0 && times.length < kills) {
    notes.push(`recovery: ${times.length} of ${kills} kills measured (the figures are their medians)`);
  }
  return { values: { recoveryFailed: median(failed), recoveryMs: median(times) }, times };
}

/** What the recovery phase killed so far: instances (always-on runtimes) and processes (environments). */
interface Killed {
  indexes: Set<number>;
  pids: Set<number>;
}

/**
 * One instance killed (SIGKILL, as a crash) while the load runs: the requests that failed, and the time
 * until a replacement serves (a new instance in rotation; for on-demand runtimes, a new environment).
 * Null when there was nothing to kill or the kill failed (said in the notes).
 */
async function recoverOnce(
  sup: Supervisor,
  s: RoundSettings,
  target: Target,
  load: (requests: number) => Promise<LoadResult>,
  notes: string[],
  killed: Killed,
  which: string,
): Promise<{ failed: number; ms: number | null } | null> {
  const current = sup.instances(target.service);
  const d = onDemand(current[0]);
  const ready = current.find((i) => i.ready && !killed.indexes.has(i.index));
  const environment = d?.list.find(
    (e) => e.pid !== null && e.state !== 'starting' && !killed.pids.has(e.pid),
  );
  const victim: { pid: number | null; index: number } = d
    ? { pid: environment?.pid ?? null, index: 0 }
    : { pid: ready?.pid ?? null, index: ready?.index ?? 0 };
  if (victim.pid === null) {
    notes.push(`recovery, ${which}: not measured: no running instance to kill`);
    return null;
  }
  killed.indexes.add(victim.index);
  killed.pids.add(victim.pid);
  s.progress({ phase: 'recovery', message: `killing one instance (pid ${victim.pid}) under load` });
  // No request count: the load runs on until a replacement serves (plus 200 ms) or the time limit. A
  // fast runtime answered a counted load before the kill, and a function then had no demand that would
  // start a new environment (seen on Node 24 once a function's warm path got faster).
  const running = load(Number.MAX_SAFE_INTEGER);
  // Awaited below, after the wait for a replacement: a load generator that ends meanwhile rejects it then,
  // not as an unhandled rejection now.
  running.catch(() => {});
  await sleep(300);
  // Counted now, not before the 300 ms: a cold start in between is not this kill's replacement.
  const coldBefore = onDemand(sup.instances(target.service)[0])?.coldStarts ?? 0;
  const killedAt = performance.now();
  try {
    process.kill(victim.pid, 'SIGKILL');
  } catch (error) {
    notes.push(`recovery, ${which}: not measured: the kill failed (${(error as Error).message})`);
    s.load.stopLoad();
    await running;
    return null;
  }
  const replaced = (info: InstanceInfo[]): boolean => {
    if (d) return (onDemand(info[0])?.coldStarts ?? 0) > coldBefore;
    const slot = info.find((i) => i.index === victim.index);
    return slot?.ready === true && slot.pid !== victim.pid;
  };
  let ms: number | null = null;
  while (performance.now() - killedAt < RECOVERY_LIMIT_MS) {
    if (replaced(sup.instances(target.service))) {
      ms = performance.now() - killedAt;
      break;
    }
    await sleep(10);
  }
  if (ms === null)
    notes.push(`recovery, ${which}: no replacement served within ${RECOVERY_LIMIT_MS} ms of the kill`);
  await sleep(200);
  s.load.stopLoad();
  const result = await running;
  return { failed: failures(result), ms };
}
