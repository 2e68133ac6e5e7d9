// `msup compare` as a user runs it: --json is one versioned object on stdout, progress goes to stderr, a
// runtime that cannot run here is reported as not run with the reason (no container engine on PATH), and
// --html writes the report.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RUNTIME_NAMES } from '../../src/config/runtime-names.js';
import type { CompareResultV3 } from '../../src/index.js';
import { runCli } from '../helpers/cli.js';
import { useProject } from '../helpers/project.js';

const project = useProject();

const SERVER = `
import http from 'node:http';
http.createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');
`;

describe('msup compare', () => {
  it('prints JSON v3, reports a runtime that cannot run, and writes the HTML report', {
    timeout: 120_000,
  }, async () => {
    const p = project();
    p.write('server.mjs', SERVER);
    p.writeConfig({ web: { command: [process.execPath, 'server.mjs'], port: 0 } });
    // No podman and no docker on this PATH: the container runtime cannot run (msup's own node is absolute).
    const run = runCli(
      p,
      [
        'compare',
        '--runtimes',
        'process,container',
        '--requests',
        '20',
        '--concurrency',
        '2',
        '--idle',
        '0.1',
        '--json',
        '--html',
        'report.html',
      ],
      { env: { PATH: path.join(p.root, 'no-bin') } },
    );
    const { code } = await run.exited;
    expect([code, run.stderr()]).toEqual([
      0,
      expect.stringContaining('msup compare: process (round 1/5): starting the config'),
    ]);
    const result = JSON.parse(run.stdout()) as CompareResultV3;
    expect(result.version).toBe(3);
    // Without --rounds, five, and up to nine while figures are marked: the figures a user sets side by side
    // across runs. Each round added is said on stderr.
    const rounds = result.settings.rounds;
    expect(result.settings).toMatchObject({ minRounds: 5, maxRounds: 9 });
    expect(rounds).toBeGreaterThanOrEqual(5);
    expect(rounds).toBeLessThanOrEqual(9);
    expect(result.runtimes[0]?.metrics.find((m) => m.id === 'p50Ms')?.rounds).toHaveLength(rounds);
    const added = run.stderr().match(/marked ! after \d+ rounds \(.*\): round \d+, up to 9\n/g) ?? [];
    expect(added).toHaveLength(rounds - 5);
    if (rounds > 5)
      expect(run.stderr()).toContain(`msup compare: process (round ${rounds}, up to 9): starting`);
    const [proc, container] = result.runtimes;
    expect(proc?.status).toBe('ran');
    expect(proc?.metrics.find((m) => m.id === 'requestsAnswered')?.value).toBe(20);
    expect(container).toMatchObject({
      runtime: 'container',
      status: 'not-run',
      code: 'MSUP_NO_CONTAINER_ENGINE',
    });
    expect(container?.reason).toMatch(/podman/);
    expect(container?.metrics).toEqual([]);
    expect(run.stderr()).toMatch(/container \(round 1\/5\): not run: /);
    const html = readFileSync(path.join(p.root, 'report.html'), 'utf8');
    expect(html).toContain('data-chart="throughputRps"');
    expect(html).toMatch(/data-runtime="container" data-status="not-run"/);
  });

  it('refuses bad options with a usage error', async () => {
    const p = project();
    p.writeConfig({ web: { command: [process.execPath, '-e', ''], port: 0 } });
    const run = runCli(p, ['compare', '--runtimes', 'lambda']);
    const { code } = await run.exited;
    expect(code).toBe(2);
    expect(run.stderr()).toContain(
      `--runtimes: expected some of ${RUNTIME_NAMES.join(', ')}, got "lambda" (see msup compare --help) [MSUP_USAGE]`,
    );
  });

  it('exits 1 when every request was answered 404, the runtime failed with the status, not measured', {
    timeout: 60_000,
  }, async () => {
    const p = project();
    p.write(
      'api.mjs',
      `import http from 'node:http';
http.createServer((req, res) => { res.statusCode = 404; res.end('no route'); }).listen(Number(process.env.PORT), '127.0.0.1');
`,
    );
    p.writeConfig({ web: { command: [process.execPath, 'api.mjs'], port: 0 } });
    const run = runCli(p, [
      'compare',
      '--runtimes',
      'process',
      '--rounds',
      '1',
      '--requests',
      '50',
      '--concurrency',
      '2',
      '--idle',
      '0.1',
      '--json',
    ]);
    const { code } = await run.exited;
    const result = JSON.parse(run.stdout()) as CompareResultV3;
    expect([code, result.runtimes[0]?.status, result.runtimes[0]?.code]).toEqual([
      1,
      'failed',
      'MSUP_LOAD_FAILED',
    ]);
    expect(run.stderr()).toContain('process: failed: every request to / was answered 404 (50 of 50');
  });

  it('refuses a --duration under a second before it runs anything', async () => {
    const p = project();
    p.writeConfig({ web: { command: [process.execPath, '-e', ''], port: 0 } });
    const run = runCli(p, ['compare', '--runtimes', 'process', '--rounds', '1', '--duration', '0']);
    const { code } = await run.exited;
    expect(code).toBe(2);
    expect(run.stderr()).toContain(
      '--duration: expected at least 1s, got "0" (see msup compare --help) [MSUP_USAGE]',
    );
    expect(run.stderr()).not.toMatch(/starting the config/);
  });

  it('refuses an --html report it could not write before it runs anything', async () => {
    const p = project();
    p.writeConfig({ web: { command: [process.execPath, '-e', ''], port: 0 } });
    const run = runCli(p, ['compare', '--runtimes', 'process', '--html', 'missing/report.html']);
    const { code } = await run.exited;
    expect(code).toBe(2);
    expect(run.stderr()).toMatch(
      /--html .*missing\/report\.html: cannot write the report there: its folder .*missing does not exist \[MSUP_USAGE\]/,
    );
    // Nothing ran: no phase line.
    expect(run.stderr()).not.toMatch(/starting the config/);
  });
});
