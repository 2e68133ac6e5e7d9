// msup's event lines, in the shapes pino and pino-pretty gave them (docs/cli.md, "Output formats"): the
// JSON record's keys and order, the pretty line with and without colour, and values JSON cannot take.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';

const at = new Date('2026-11-27T05:36:58.208Z');

function lines(json: boolean, color = false): { out: string[]; log: ReturnType<typeof createLogger> } {
  const out: string[] = [];
  return { out, log: createLogger({ json, color, write: (l) => out.push(l), now: () => at }) };
}

describe("msup's event lines", () => {
  it('writes a JSON record per event: level number, ISO time, the fields, msg last', () => {
    const { out, log } = lines(true);
    log.info({ service: 'web', instance: 0, pid: 4323, port: 34907, restarts: 0 }, 'started');
    log.warn({ signal: 'SIGINT', gone: undefined }, 'forcing stop');
    log.error({}, 'crash loop');
    log.debug({ x: 1 }, 'not shown');
    expect(out).toEqual([
      '{"level":30,"time":"2026-11-27T05:36:58.208Z","service":"web","instance":0,"pid":4323,"port":34907,"restarts":0,"msg":"started"}\n',
      '{"level":40,"time":"2026-11-27T05:36:58.208Z","signal":"SIGINT","msg":"forcing stop"}\n',
      '{"level":50,"time":"2026-11-27T05:36:58.208Z","msg":"crash loop"}\n',
    ]);
  });

  it('writes a pretty line: time, level, pid, who, message, the other fields', () => {
    const { out, log } = lines(false);
    log.info({ service: 'web', instance: 0, pid: 4410, port: 35251 }, 'ready');
    log.warn({ service: 'web' }, 'crash loop');
    log.error({ extra: undefined }, 'boom');
    expect(out).toEqual([
      '[05:36:58] INFO (4410): web#0 ready {"port":35251}\n',
      '[05:36:58] WARN: web crash loop\n',
      '[05:36:58] ERROR: msup boom\n',
    ]);
    const colored = lines(false, true);
    colored.log.info({ service: 'web', instance: 1, pid: 7, port: 1 }, 'ready');
    expect(colored.out).toEqual([
      '[05:36:58] \u001b[32mINFO\u001b[39m (7): \u001b[36mweb#1 ready\u001b[39m \u001b[90m{"port":1}\u001b[39m\n',
    ]);
  });

  it('never throws on what JSON cannot take: an Error, a cycle, a bigint', () => {
    const { out, log } = lines(true);
    const cycle: Record<string, unknown> = { name: 'a' };
    cycle.self = cycle;
    const error = Object.assign(new Error('no such file'), { code: 'ENOENT' });
    log.error({ error, cycle, big: 12n }, 'failed');
    const record = JSON.parse(out[0] ?? '') as Record<string, unknown>;
    expect(record.error).toMatchObject({ type: 'Error', message: 'no such file', code: 'ENOENT' });
    expect(String((record.error as { stack: string }).stack)).toContain('no such file');
    expect(record.cycle).toEqual({ name: 'a', self: '[Circular]' });
    expect(record.big).toBe('12');
  });

  it('writes an object that appears twice (not a cycle) in full both times, as pino did', () => {
    const { out, log } = lines(true);
    const limits = { max: 4 };
    log.info({ before: limits, after: limits }, 'scaled');
    expect(JSON.parse(out[0] ?? '')).toMatchObject({ before: { max: 4 }, after: { max: 4 } });
  });
});

describe('fields pino-pretty took for errors', () => {
  it('writes err and error on lines of their own, as pino-pretty did', () => {
    const { out, log } = lines(false);
    log.warn(
      { service: 'web', instance: 0, pid: 4242, attempt: 3, error: 'connect ECONNREFUSED 127.0.0.1:1' },
      'health check failed',
    );
    log.warn({ error: 'x' }, 'log file error');
    log.warn({ err: 'y', a: 1 }, 'e2');
    log.warn({ error: { code: 'E', message: 'm' } }, 'e3');
    expect(out).toEqual([
      '[05:36:58] WARN (4242): web#0 health check failed {"attempt":3}\n    error: "connect ECONNREFUSED 127.0.0.1:1"\n',
      '[05:36:58] WARN: msup log file error \n    error: "x"\n',
      '[05:36:58] WARN: msup e2 {"a":1}\n    err: "y"\n',
      '[05:36:58] WARN: msup e3 \n    error: {\n      "code": "E",\n      "message": "m"\n    }\n',
    ]);
    const colored = lines(false, true);
    colored.log.warn({ error: 'x' }, 'log file error');
    expect(colored.out).toEqual([
      '[05:36:58] \u001b[33mWARN\u001b[39m: \u001b[36mmsup log file error\u001b[39m \n    error: "x"\n',
    ]);
  });
});
