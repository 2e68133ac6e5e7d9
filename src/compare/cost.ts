// What a million requests would cost, modelled at public list prices: an always-on runtime pays for its
// instances' memory and CPUs by the hour, a function for its GB-seconds and requests. Pure; every price
// carries where it comes from.
import { LAMBDA_PRICES } from '../runtime/function/billing.js';

/**
 * AWS Fargate on-demand list prices, US East (N. Virginia), Linux/x86, as published on
 * https://aws.amazon.com/fargate/pricing/: $0.04048 per vCPU-hour and $0.004445 per GB-hour. Its smallest
 * task (0.25 vCPU, 0.5 GB) is what an instance is priced at when the config sets no `cpus` / `memory`.
 */
export const ALWAYS_ON_PRICES = {
  usdPerVcpuHour: 0.04048,
  usdPerGbHour: 0.004445,
  defaultVcpus: 0.25,
  defaultMemoryGb: 0.5,
  source: 'https://aws.amazon.com/fargate/pricing/ (on-demand, us-east-1, Linux/x86)',
} as const;

export const FUNCTION_PRICES_SOURCE = LAMBDA_PRICES.source;

export interface AlwaysOnInput {
  /** Instances that run all the time (apps, and their sidecars' share counts in their memory). */
  instances: number;
  /** Memory per instance in MB as configured, or null (priced at the smallest task). */
  memoryMb: number | null;
  /** CPUs per instance as configured, or null (priced at the smallest task). */
  cpus: number | null;
  /** Requests per second the instances served at the measured concurrency. */
  throughputRps: number;
}

export interface CostModel {
  /** Always true: a model at list prices, not a bill. */
  modelled: true;
  usdPerMillion: number | null;
  /** What the runtime costs per hour with no request at all. */
  usdPerIdleHour: number;
  /** In words: what was multiplied. */
  basis: string;
  source: string;
}

/** Dollars per hour for the instances, all the time. */
export function alwaysOnHourly(input: Omit<AlwaysOnInput, 'throughputRps'>): number {
  const gb = input.memoryMb === null ? ALWAYS_ON_PRICES.defaultMemoryGb : input.memoryMb / 1024;
  const vcpus = input.cpus ?? ALWAYS_ON_PRICES.defaultVcpus;
  return input.instances * (gb * ALWAYS_ON_PRICES.usdPerGbHour + vcpus * ALWAYS_ON_PRICES.usdPerVcpuHour);
}

/**
 * An always-on runtime: the hours its instances need to serve a million requests at the measured
 * throughput (fully busy: a lower load costs more per request), times their hourly price.
 */
export function alwaysOnCost(input: AlwaysOnInput): CostModel {
  const hourly = alwaysOnHourly(input);
  const hours = input.throughputRps > 0 ? 1_000_000 / input.throughputRps / 3600 : null;
  const gb = input.memoryMb === null ? ALWAYS_ON_PRICES.defaultMemoryGb : input.memoryMb / 1024;
  const vcpus = input.cpus ?? ALWAYS_ON_PRICES.defaultVcpus;
  return {
    modelled: true,
    usdPerMillion: hours === null ? null : hours * hourly,
    usdPerIdleHour: hourly,
    basis: `${input.instances} instance(s) × (${round(gb)} GB, ${vcpus} vCPU) × the hours 1M requests take at ${Math.round(input.throughputRps)} req/s, fully busy`,
    source: ALWAYS_ON_PRICES.source,
  };
}

export interface FunctionCostInput {
  /** Invocations billed so far and their dollars, as the function runtime's meter counted them. */
  requests: number;
  usdTotal: number;
  gbSeconds: number;
}

/** A function: the dollars its meter counted for the run's invocations, scaled to a million. */
export function functionCost(input: FunctionCostInput): CostModel {
  return {
    modelled: true,
    usdPerMillion: input.requests > 0 ? (input.usdTotal / input.requests) * 1_000_000 : null,
    usdPerIdleHour: 0,
    basis: `${input.requests} invocations, ${round(input.gbSeconds)} GB-s billed (init included), scaled to 1M`,
    source: FUNCTION_PRICES_SOURCE,
  };
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
