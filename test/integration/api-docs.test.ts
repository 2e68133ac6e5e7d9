// The first API example in docs/api.md runs as written, as an .mjs file, on the Node running the tests
// (Node 20 has no `await using` in JavaScript: the example must not need it).
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, REPO, useProject } from '../helpers/project.js';

const project = useProject();

/** The first fenced code block after the `## \`start()\`` heading. */
function firstExample(): string {
  const page = readFileSync(path.join(REPO, 'docs', 'api.md'), 'utf8');
  const section = page.slice(page.indexOf('## `start()`'));
  const match = /```\w*\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error('docs/api.md has no example under ## `start()`');
  return match[1] as string;
}

describe('docs/api.md', () => {
  it('its first example runs as an .mjs file on this Node, and stops what it started', async () => {
    const p = project();
    mkdirSync(path.join(p.root, 'node_modules'));
    symlinkSync(REPO, path.join(p.root, 'node_modules', 'msupervisor'));
    p.write(
      'supervisor.config.ts',
      `export default { services: { web: { command: ['node', ${JSON.stringify(fixture('echo-server.js'))}], instances: 2, port: 0, env: { MSUP_TEST_TAG: '${p.tag}' } } } };\n`,
    );
    p.write('app.mjs', firstExample());
    const child = spawn(process.execPath, ['app.mjs'], { cwd: p.root, env: p.env(), stdio: 'pipe' });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(out).toMatch(/^http:\/\/127\.0\.0\.1:\d+\n/);
    expect(out).toMatch(/service: 'web'/);
    expect(code).toBe(0);
  });
});
