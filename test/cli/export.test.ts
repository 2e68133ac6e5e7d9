// `msup export` as a user runs it, where no engine is needed to see the answer: usage errors, a
// hand-written file left alone, and no container engine on PATH.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useProject } from '../helpers/project.js';

const newProject = useProject();
const folders: string[] = [];
afterEach(() => {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('msup export', () => {
  it('needs a target: compose, k8s, sam or knative', async () => {
    const project = newProject();
    project.writeConfig({ web: { command: 'node server.js' } });
    for (const args of [['export'], ['export', 'swarm']]) {
      const cli = runCli(project, args);
      expect((await cli.exited).code).toBe(2);
      expect(cli.stderr()).toMatch(
        /export needs a target: "compose", "k8s", "sam", "knative", "linkerd", "istio".*\[MSUP_USAGE\]/,
      );
    }
  });

  it('a file that cannot be written when it comes to it: MSUP_WRITE_FAILED, exit 1, not a usage error', async () => {
    const project = newProject();
    project.writeConfig({ web: { command: 'node server.js', port: 0 } });
    // A folder name longer than any file system takes: every check before passes, the mkdir fails.
    const out = 'x'.repeat(300);
    const cli = runCli(project, ['export', 'sam', '--out', out]);
    expect((await cli.exited).code).toBe(1);
    expect(cli.stderr()).toMatch(
      /^msup: cannot write .*template\.yaml: ENAMETOOLONG \[MSUP_WRITE_FAILED\]\n$/,
    );
  });

  it('leaves a compose.yaml it did not write alone', async () => {
    const project = newProject();
    project.writeConfig({ web: { command: 'node server.js' } });
    const mine = project.write('compose.yaml', 'services:\n  db:\n    image: postgres\n');
    const cli = runCli(project, ['export', 'compose']);
    expect((await cli.exited).code).toBe(2);
    expect(cli.stderr()).toContain(`${mine} exists and was not written by msup export`);
    expect(readFileSync(mine, 'utf8')).toBe('services:\n  db:\n    image: postgres\n');
  });

  it('--out naming a file, or a folder where the file goes: MSUP_USAGE before any image is made', async () => {
    const project = newProject();
    project.writeConfig({ web: { command: 'node server.js', port: 0 } });
    const notes = project.write('notes.txt', 'mine\n');
    const empty = mkdtempSync(path.join(os.tmpdir(), 'msup-no-engine-'));
    folders.push(empty);
    // No engine on PATH: the answer is about --out, not the engine (the images would come first).
    const env = { PATH: `${empty}:${path.dirname(process.execPath)}` };
    for (const out of ['notes.txt', 'notes.txt/sub']) {
      const cli = runCli(project, ['export', 'k8s', '--out', out], { env });
      expect((await cli.exited).code).toBe(2);
      expect(cli.stderr()).toContain(`${notes} is a file, not a folder`);
      expect(cli.stderr()).toContain('[MSUP_USAGE]');
      expect(cli.stderr()).not.toContain('unexpected error');
    }
    mkdirSync(path.join(project.root, 'out', 'template.yaml'), { recursive: true });
    const cli = runCli(project, ['export', 'sam', '--out', 'out'], { env });
    expect((await cli.exited).code).toBe(2);
    expect(cli.stderr()).toContain(`${path.join(project.root, 'out', 'template.yaml')}: it is a folder`);
    expect(cli.stderr()).toContain('[MSUP_USAGE]');
    expect(cli.stderr()).not.toContain('unexpected error');
    expect(readFileSync(notes, 'utf8')).toBe('mine\n');
  });

  it('without a container engine: MSUP_NO_CONTAINER_ENGINE with what was tried, and no file', async () => {
    const project = newProject();
    project.writeConfig({ web: { command: 'node server.js' } });
    const empty = mkdtempSync(path.join(os.tmpdir(), 'msup-no-engine-'));
    folders.push(empty);
    const cli = runCli(project, ['export', 'k8s', '--out', 'out'], { env: { PATH: empty } });
    expect((await cli.exited).code).toBe(1);
    expect(cli.stderr()).toContain('podman: not found on PATH');
    expect(cli.stderr()).toContain('docker: not found on PATH');
    expect(cli.stderr()).toContain('[MSUP_NO_CONTAINER_ENGINE]');
    expect(() => readFileSync(path.join(project.root, 'out', 'k8s.yaml'))).toThrow();
  });

  it('writes an AWS SAM template without a container engine (Lambda runs the code itself)', async () => {
    const project = newProject();
    project.writeConfig({
      hello: { handler: 'fns/hello.handler', port: 0 },
      worker: { command: 'node w.js' },
    });
    project.write('.env', 'TOKEN=s3cret\n');
    const empty = mkdtempSync(path.join(os.tmpdir(), 'msup-no-engine-'));
    folders.push(empty);
    const cli = runCli(project, ['export', 'sam', '--out', 'out', '--json'], {
      env: { PATH: `${empty}:${path.dirname(process.execPath)}` },
    });
    expect((await cli.exited).code).toBe(0);
    const answer = JSON.parse(cli.stdout().trim());
    expect(answer).toMatchObject({
      target: 'sam',
      file: path.join(project.root, 'out', 'template.yaml'),
      images: {},
    });
    expect(answer.warnings).toEqual(
      expect.arrayContaining([expect.objectContaining({ key: 'services.worker' })]),
    );
    // The project's .env is not in the template (it may hold secrets), and the export says so.
    expect(answer.warnings).toEqual(expect.arrayContaining([expect.objectContaining({ key: '.env' })]));
    const template = readFileSync(path.join(project.root, 'out', 'template.yaml'), 'utf8');
    expect(template).toContain('Transform: AWS::Serverless-2016-10-31');
    expect(template).toContain('Handler: fns/hello.handler');
    // CodeUri is relative to the template's folder (out/): the project folder is `..`, named in a warning.
    expect(template).toContain('CodeUri: ..\n');
    expect(answer.warnings).toEqual(
      expect.arrayContaining([expect.objectContaining({ key: 'services.hello.cwd' })]),
    );
  });
});
