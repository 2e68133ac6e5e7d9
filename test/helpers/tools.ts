// Outside tools a test needs (promtool, prometheus, chromium): found at their Debian paths, else the test
// skips with a printed reason, except in CI (CI=true), where a missing tool fails the test instead.
import { existsSync } from 'node:fs';

export const IN_CI = process.env.CI === 'true';

export interface Tool {
  path: string;
  /** Why it cannot run here, or undefined when it can. */
  missing: string | undefined;
  /** Skip the test (locally only); in CI, run it so that `need()` fails it. */
  skip: boolean;
  /** Throws in a test when the tool is missing (only reached in CI). */
  need(): string;
}

export function tool(path: string, installHint: string): Tool {
  const missing = existsSync(path) ? undefined : `${path} is not installed (${installHint})`;
  const skip = missing !== undefined && !IN_CI;
  if (skip) console.warn(`skipping the tests that need ${path}: ${missing}`);
  return {
    path,
    missing,
    skip,
    need() {
      if (missing) throw new Error(`${missing}; CI must install it (.ci/run)`);
      return path;
    },
  };
}

export const promtool = () => tool('/usr/bin/promtool', 'apt-get install prometheus');
export const prometheus = () => tool('/usr/bin/prometheus', 'apt-get install prometheus');
export const chromium = () => tool('/usr/bin/chromium', 'apt-get install chromium');
export const nginx = () => tool('/usr/sbin/nginx', 'apt-get install nginx-light');
