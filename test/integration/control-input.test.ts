// Whatever arrives on the control socket gets an answer, and msup keeps running: messages of any shape
// (`null`, arrays, wrong field types) and counts past the bound.
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/processes.js';
import { node, useProject } from '../helpers/project.js';

const project = useProject();

/** Sends each line on one connection; resolves with the answers, one parsed object per line sent. */
function converse(socketPath: string, lines: string[]): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      const answers = text.split('\n').filter(Boolean);
      if (answers.length >= lines.length) {
        socket.end();
        resolve(answers.map((a) => JSON.parse(a) as Record<string, unknown>));
      }
    });
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no answer after ${JSON.stringify(text)}`)));
    socket.on('close', () => reject(new Error(`closed after ${JSON.stringify(text)}`)));
    socket.write(lines.map((l) => `${l}\n`).join(''));
  });
}

describe('control socket input', () => {
  it('answers every malformed message with an error and keeps running', async () => {
    const p = project();
    const sup = await p.start({ config: p.config({ w: { command: node('worker.js') } }) });
    const socketPath = path.join(p.root, '.msup', 'control.sock');
    const bad = [
      'null',
      '[]',
      '42',
      '"status"',
      'true',
      '{}',
      '{"v":1}',
      '{"v":1,"id":"x","cmd":"status"}',
      '{"v":1,"id":2,"cmd":"scale"}',
      '{"v":1,"id":3,"cmd":"scale","counts":null}',
      '{"v":1,"id":4,"cmd":"scale","counts":[1]}',
      '{"v":1,"id":5,"cmd":"scale","counts":{"w":"2"}}',
      '{"v":1,"id":6,"cmd":"scale","counts":{"w":1e300}}',
      '{"v":1,"id":7,"cmd":"scale","counts":{"w":100000000}}',
      '{"v":1,"id":8,"cmd":"restart","service":{}}',
      '{"v":1,"id":9,"cmd":"follow","service":7}',
      '{"v":1,"id":9,"cmd":"follow","lines":-1}',
      '{"v":1,"id":9,"cmd":"follow","stream":"both"}',
      '{"v":1,"id":10,"cmd":{"toString":1}}',
      '{"v":2,"id":11,"cmd":"status"}',
      'not json',
    ];
    const answers = await converse(socketPath, bad);
    expect(answers).toHaveLength(bad.length);
    for (const answer of answers) {
      expect(answer).toMatchObject({ v: 1, ok: false, error: { code: 'MSUP_CONTROL' } });
    }
    expect(answers.map((a) => a.id)).toEqual([
      0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 10, 11, 0,
    ]);
    expect(JSON.stringify(answers[12])).toContain('from 0 to 1000');
    // Before, a stream msup does not have was taken for none: every record sent.
    expect((answers[17] as { error: { message: string } }).error.message).toBe(
      'expected "stream" to be "stdout" or "stderr"',
    );
    expect(answers.slice(0, 3).map((a) => (a.error as { message: string }).message)).toEqual([
      'expected a request object, got null',
      'expected a request object, got array',
      'expected a request object, got number',
    ]);
    // Nothing was scaled, and msup still answers.
    expect(sup.instances('w')).toHaveLength(1);
    const [status] = await converse(socketPath, ['{"v":1,"id":12,"cmd":"status"}']);
    expect(status).toMatchObject({ id: 12, ok: true, result: { version: 1 } });
  });

  it('sup.scale() refuses a count past the bound before changing anything', async () => {
    const p = project();
    const sup = await p.start({ config: p.config({ w: { command: node('worker.js') } }) });
    await expect(sup.scale('w', 100_000_000)).rejects.toMatchObject({
      code: 'MSUP_USAGE',
      message: 'scale w: expected a whole number from 0 to 1000, got 100000000',
    });
    expect(sup.instances('w')).toHaveLength(1);
  });
  it('follow with "stream": msup itself sends that stream only (stderr: its warn and error events too)', async () => {
    const p = project();
    // At the first SIGUSR2 a stdout line, at the second a stderr one.
    const script = `let k = 0;
process.on('SIGUSR2', () => (++k === 1 ? process.stdout.write('o1\\n') : process.stderr.write('e1\\n')));
setInterval(() => {}, 1000);`;
    const sup = await p.start({ config: p.config({ w: { command: [process.execPath, '-e', script] } }) });
    const pid = sup.instances('w')[0]?.pid as number;
    const socketPath = path.join(p.root, '.msup', 'control.sock');
    /** A follow on a connection of its own: its messages as they come. */
    const follow = (request: string) => {
      const socket = net.connect(socketPath);
      const messages: Record<string, unknown>[] = [];
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        text += chunk;
        const lines = text.split('\n');
        text = lines.pop() as string;
        for (const line of lines) messages.push(JSON.parse(line) as Record<string, unknown>);
      });
      socket.write(`${request}\n`);
      return { socket, messages };
    };
    const records = (messages: Record<string, unknown>[]) =>
      messages.filter((m) => m.event === 'line').map((m) => m.record as Record<string, unknown>);
    const all = follow('{"v":1,"id":1,"cmd":"follow"}');
    const err = follow('{"v":1,"id":1,"cmd":"follow","stream":"stderr"}');
    const out = follow('{"v":1,"id":1,"cmd":"follow","service":"w","stream":"stdout"}');
    try {
      const answered = () => [all, err, out].every((f) => f.messages.some((m) => m.ok === true));
      await waitFor(answered);
      expect(err.messages[0]).toMatchObject({ ok: true, result: { stream: 'stderr' } });
      // An info event (scaling) and a stdout line; once the follower of everything has both, msup has
      // sent the stderr follower what it sends of them, before the stderr line asked for next.
      await sup.scale('w', 2);
      process.kill(pid, 'SIGUSR2');
      const seen = (f: { messages: Record<string, unknown>[] }, what: RegExp) =>
        records(f.messages).some((r) => what.test(JSON.stringify(r)));
      expect(await waitFor(() => seen(all, /"line":"o1"/) && seen(all, /"msg":"scaling"/))).toBe(true);
      process.kill(pid, 'SIGUSR2');
      expect(await waitFor(() => seen(err, /"line":"e1"/) && seen(all, /"line":"e1"/))).toBe(true);
      // Before (without msup's own filter), o1 and the info event came on the stderr follow too.
      const errRecords = records(err.messages);
      expect(errRecords.filter((r) => r.kind === 'output')).toMatchObject([{ stream: 'stderr', line: 'e1' }]);
      expect(
        errRecords.filter((r) => r.kind === 'event' && r.level !== 'warn' && r.level !== 'error'),
      ).toEqual([]);
      expect(records(out.messages)).toMatchObject([{ kind: 'output', stream: 'stdout', line: 'o1' }]);
    } finally {
      for (const f of [all, err, out]) f.socket.destroy();
    }
  });
});
