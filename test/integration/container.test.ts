// The supervisor on the container runtime, on a real engine: the same config behind the same proxy,
// exec probes inside the container, memory limits and OOM kills, output, and nothing left behind.
import {
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogRecord, OutputLine } from '../../src/index.js';
import { detectEngine, engineCommand } from '../../src/runtime/container/engine.js';
import { podmanMissing, projectContainers, removeProjectImages } from '../helpers/engines.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { fixture, useProject } from '../helpers/project.js';

const newProject = useProject();

/** The processes whose arguments `match` (the engine's exec commands this test process started, or not). */
function processes(match: (args: string[], ppid: number) => boolean): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z') continue;
      if (match(readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0'), Number(ppid)))
        found.push(Number(entry));
    } catch {
      // ended while we looked
    }
  }
  return found;
}
/** The `podman system service` processes this test process started (msup runs in it here). */
const apiServices = () =>
  processes((args, ppid) => ppid === process.pid && args.join('\0').includes('system\0service'));
const missing = podmanMissing();

describe.skipIf(missing !== undefined)('the container runtime', () => {
  // One service folder for every test, so the image is built once and then found in the cache.
  let app = '';
  const roots: string[] = [];
  beforeAll(() => {
    app = mkdtempSync(path.join(os.tmpdir(), 'msup-container-app-'));
    copyFileSync(fixture('behave.js'), path.join(app, 'behave.js'));
    // Says when it gets SIGTERM (behave.js ends silently), then ends.
    writeFileSync(
      path.join(app, 'term.js'),
      "require('node:http').createServer((_, res) => res.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');\n" +
        "process.on('SIGTERM', () => { console.log('node got SIGTERM'); setTimeout(() => process.exit(0), 100); });\n",
    );
    // Takes a second to end after SIGTERM, and says when it is done.
    writeFileSync(
      path.join(app, 'slow-term.js'),
      "require('node:http').createServer((_, res) => res.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');\n" +
        "process.on('SIGTERM', () => setTimeout(() => { console.log('node finished'); process.exit(0); }, 1000));\n",
    );
  });
  afterAll(() => {
    for (const root of roots) removeProjectImages(root);
    rmSync(app, { recursive: true, force: true });
  });
  const project = () => {
    const p = newProject();
    roots.push(p.root);
    return p;
  };

  const service = (over: Record<string, unknown> = {}, env: Record<string, string> = {}) => ({
    command: ['node', 'behave.js'],
    cwd: app,
    runtime: 'container' as const,
    ...over,
    env,
  });

  /**
   * Starts `web` with the exec readiness probe `check` (every 100 ms, each given `timeout`), which passes
   * until `file` exists in the container; once it has passed, makes that file there.
   */
  const probeUntil = async (check: string, timeout: string, file: string) => {
    const p = project();
    const sup = await p.start({
      config: p.config({
        web: service({ port: 0, readiness: { exec: check, timeout, interval: '100ms' } }),
      }),
    });
    expect(sup.instances('web')[0]).toMatchObject({ ready: true, lastProbe: { ok: true } });
    const name = sup.instances('web')[0]?.id ?? '';
    const engine = await detectEngine(null);
    expect((await engineCommand(engine, ['exec', name, '/bin/sh', '-c', `: > ${file}`])).code).toBe(0);
    return { p, sup, name, engine };
  };

  /** The detail of the first failure of probeUntil's probe, once msup has stopped (and left no container). */
  const failedProbeDetail = async (check: string, timeout: string, file: string) => {
    const { p, sup } = await probeUntil(check, timeout, file);
    expect(await waitFor(() => sup.instances('web')[0]?.lastProbe?.ok === false, 20_000)).toBe(true);
    const detail = sup.instances('web')[0]?.lastProbe?.detail;
    await sup.stop();
    expect(projectContainers(p.root)).toEqual([]);
    return detail;
  };

  it('runs instances as containers behind the proxy, reports them, and removes them at stop', {
    timeout: 180_000,
  }, async () => {
    const p = project();
    const sup = p.create({
      config: p.config({
        web: service({ instances: 2, port: 0, health: { http: '/' } }),
        worker: service({}, { BEHAVE: 'serve' }),
      }),
    });
    const lines: OutputLine[] = [];
    sup.on('output', (line) => lines.push(line));
    await sup.start();
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add((await request(sup.url('web'))).body.trim());
    expect(seen).toEqual(new Set(['ok web#0', 'ok web#1']));
    const status = await sup.status();
    const web = status.services.find((s) => s.name === 'web')!;
    expect(web.instances.map((i) => i.runtime)).toEqual(['container', 'container']);
    expect(web.instances.every((i) => i.id?.startsWith('msup-') && i.ready)).toBe(true);
    expect(web.instances.every((i) => (i.memoryBytes ?? 0) > 5_000_000 && i.pid !== null)).toBe(true);
    expect(lines).toEqual(
      expect.arrayContaining([expect.objectContaining({ service: 'worker', line: 'hello from worker#0' })]),
    );
    expect(projectContainers(p.root)).toHaveLength(3);
    // One podman API service for the run, msup's own child, gone with msup's stop.
    expect(apiServices()).toHaveLength(1);
    // Its stderr is no pipe to msup: podman dies of SIGPIPE at its next warning once msup is gone, and a
    // podman killed while it makes a container leaves it half made, hidden from podman ps.
    expect(readlinkSync(`/proc/${apiServices()[0]}/fd/2`)).toMatch(/^\/.*service\.log$/);
    await sup.stop();
    expect(projectContainers(p.root)).toEqual([]);
    expect(apiServices()).toEqual([]);
  });

  it("gives a string command's app SIGTERM at stop, not only its shell", { timeout: 180_000 }, async () => {
    const p = project();
    const sup = p.create({
      config: p.config({
        // /bin/sh stays between the init and node: after `;`, and after `&&`.
        semi: service({ command: 'node term.js; echo after', port: 0, stopTimeout: 15_000 }),
        and: service({ command: 'cd . && node term.js', port: 0, stopTimeout: 15_000 }),
        // The shell is in `wait`, or below a subshell: it must still outlive the app's second.
        bg: service({ command: 'node slow-term.js & wait; echo after', port: 0, stopTimeout: 15_000 }),
        sub: service({ command: '(cd . && node slow-term.js; echo after)', port: 0, stopTimeout: 15_000 }),
      }),
    });
    const lines: OutputLine[] = [];
    sup.on('output', (line) => lines.push(line));
    await sup.start();
    const names = ['semi', 'and', 'bg', 'sub'].map((s) => sup.instances(s)[0]?.id as string);
    const began = Date.now();
    await sup.stop();
    // Well below stopTimeout: nobody waited for a SIGKILL.
    expect(Date.now() - began).toBeLessThan(12_000);
    // No engine process of theirs outlives them (podman keeps an API exec's conmon for 5 minutes).
    const conmons = () => {
      const found: string[] = [];
      for (const entry of readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        try {
          const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
          if (argv[0]?.endsWith('conmon') && names.includes(argv[argv.indexOf('-n') + 1] as string))
            found.push(entry);
        } catch {}
      }
      return found;
    };
    expect(await waitFor(() => conmons().length === 0, 3000)).toBe(true);
    // Without it, the shell died of SIGTERM and the container's end SIGKILLed node.
    const told = lines.filter((l) => l.line === 'node got SIGTERM').map((l) => l.service);
    expect(told.sort()).toEqual(['and', 'semi']);
    const finished = lines.filter((l) => l.line === 'node finished').map((l) => l.service);
    expect(finished.sort()).toEqual(['bg', 'sub']);
    // As under the process runtime, the shell runs nothing after the command it was running.
    expect(lines.some((l) => l.line === 'after')).toBe(false);
    expect(projectContainers(p.root)).toEqual([]);
  });

  it('runs exec probes inside the container', { timeout: 120_000 }, async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({
        // Ready only where pid 1 is the container's init (catatonit, as podman-init), not on the host.
        web: service({
          port: 0,
          readiness: {
            exec: 'read -r init < /proc/1/comm && case $init in podman-init|catatonit|docker-init) true;; *) false;; esac',
          },
        }),
      }),
    });
    expect(sup.instances('web')[0]).toMatchObject({ ready: true, lastProbe: { ok: true } });
    await sup.stop();
    expect(projectContainers(p.root)).toEqual([]);
  });

  it('fails an exec probe whose engine command cannot start with the reason, never as a timeout', {
    timeout: 120_000,
  }, async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({ web: service({ port: 0, readiness: { exec: 'true', interval: '100ms' } }) }),
    });
    expect(sup.instances('web')[0]).toMatchObject({ ready: true, lastProbe: { ok: true } });
    // The engine msup found (once per process, so the one its probes use) cannot be run for a while, as
    // when msup is out of processes (EAGAIN) or descriptors (EMFILE); here it is gone (ENOENT).
    const engine = await detectEngine(null);
    const bin = engine.bin;
    engine.bin = path.join(p.root, 'no-such-engine');
    try {
      expect(await waitFor(() => sup.instances('web')[0]?.lastProbe?.ok === false)).toBe(true);
      expect(sup.instances('web')[0]?.lastProbe?.detail).toBe(`exec failed: spawn ${engine.bin} ENOENT`);
    } finally {
      engine.bin = bin;
    }
    await sup.stop();
    expect(projectContainers(p.root)).toEqual([]);
  });

  it('says an exec probe whose engine command someone else killed was ended so, its output only as output', {
    timeout: 120_000,
  }, async () => {
    // Passes until /tmp/hang exists in the container; then writes a line that looks like a shortage, and hangs.
    const check =
      'test ! -e /tmp/hang || { echo "probe: spawn sh EAGAIN" >&2; exec node -e "setTimeout(() => {}, 120000)" hang-marker; }';
    const { p, sup, name, engine } = await probeUntil(check, '60s', '/tmp/hang');
    // A probe hangs now (the only one under way: probes go one at a time); something else (the OOM
    // killer, say) kills its engine command.
    expect(await waitFor(() => processes((args) => args.includes('hang-marker')).length > 0, 20_000)).toBe(
      true,
    );
    const clients = processes(
      (args, ppid) => ppid === process.pid && args[1] === 'exec' && args[2] === name && args.includes(check),
    );
    expect(clients).toHaveLength(1);
    process.kill(clients[0] as number, 'SIGKILL');
    expect(await waitFor(() => sup.instances('web')[0]?.lastProbe?.ok === false)).toBe(true);
    // Its reason is what ended it; the probe command's words are neither the reason nor msup's shortage.
    expect(sup.instances('web')[0]?.lastProbe?.detail).toMatch(
      new RegExp(
        `^exec failed: ${engine.name} exec was ended by SIGKILL(; last output: "probe: spawn sh EAGAIN")?$`,
      ),
    );
    await sup.stop();
    expect(projectContainers(p.root)).toEqual([]);
  });

  it("shows what a failed exec probe's command wrote inside the container, with its exit code", {
    timeout: 120_000,
  }, async () => {
    // Passes until /tmp/down exists in the container; then says why on stdout and stderr, and exits 3.
    const check = 'test ! -e /tmp/down || { echo "checking the queue"; echo "queue full" >&2; exit 3; }';
    expect(await failedProbeDetail(check, '30s', '/tmp/down')).toBe(
      'exec exited with code 3; last output: "checking the queue\\nqueue full"',
    );
  });

  it('shows what an exec probe that ran out of time wrote inside the container before it', {
    timeout: 120_000,
  }, async () => {
    // Passes until /tmp/slow exists in the container; then says what it waits for, and hangs (the image
    // has sh and node, no sleep).
    const check =
      'test ! -e /tmp/slow || { echo "waiting for the db"; exec node -e "setTimeout(() => {}, 60000)"; }';
    expect(await failedProbeDetail(check, '5s', '/tmp/slow')).toBe(
      'exec timed out after 5000ms; last output: "waiting for the db"',
    );
  });

  it("shows the end of a failed exec probe's large output, a character cut between two chunks whole", {
    timeout: 120_000,
  }, async () => {
    // Passes until /tmp/down exists in the container; then writes 300,400 euro signs (3 bytes each: 900 KB,
    // the last 400 a byte per write, so that chunks end inside them) and why, and exits 3.
    const euros =
      "i=0; while [ $i -lt 400 ]; do printf '\\342'; printf '\\202'; printf '\\254'; i=$((i+1)); done";
    const check = `test ! -e /tmp/down || { node -e "process.stdout.write('€'.repeat(300000))"; ${euros}; echo ' queue full'; exit 3; }`;
    // Its last 300 characters, none of them U+FFFD.
    expect(await failedProbeDetail(check, '30s', '/tmp/down')).toBe(
      `exec exited with code 3; last output: "…${'€'.repeat(289)} queue full"`,
    );
  });

  it('limits memory, and shows an out-of-memory kill as such', { timeout: 120_000 }, async () => {
    const p = project();
    const sup = p.create({
      wait: false,
      config: p.config({ hog: service({ memory: '128m', restart: 'never' }, { BEHAVE: 'oom' }) }),
    });
    const records: LogRecord[] = [];
    sup.on('log', (r) => records.push(r));
    await sup.start();
    expect(await waitFor(() => sup.instances('hog')[0]?.state === 'exited', 60_000)).toBe(true);
    expect(sup.instances('hog')[0]?.lastExit).toMatchObject({ code: 137, reason: 'OOMKilled' });
    expect(records.find((r) => r.msg === 'exited')).toMatchObject({ code: 137, reason: 'OOMKilled' });
    await sup.stop();
    expect(projectContainers(p.root)).toEqual([]);
  });
});
