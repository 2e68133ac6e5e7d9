// A bounded, continuous GET load over loopback: N clients with keep-alive, each sending its next
// request when the last one finished, until stopped (or a request cap is hit).
import http from 'node:http';

export interface LoadResult {
  ok: number;
  failed: { status: number; error?: string }[];
  /** Which instances answered (from the echo fixture's JSON). */
  instances: Set<string>;
}

export function startLoad(
  url: string,
  options: { clients?: number; maxRequests?: number; path?: string } = {},
) {
  const clients = options.clients ?? 4;
  const maxRequests = options.maxRequests ?? 200_000;
  const result: LoadResult = { ok: 0, failed: [], instances: new Set() };
  let running = true;
  let sent = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const once = () =>
    new Promise<void>((resolve) => {
      const req = http.get(`${url}${options.path ?? '/'}`, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => {
          if (res.statusCode === 200) {
            result.ok++;
            try {
              const echo = JSON.parse(body) as { service: string; instance: number; pid: number };
              result.instances.add(`${echo.service}#${echo.instance}:${echo.pid}`);
            } catch {}
          } else result.failed.push({ status: res.statusCode ?? 0, error: body.slice(0, 200) });
          resolve();
        });
        res.on('error', (e) => {
          result.failed.push({ status: 0, error: e.message });
          resolve();
        });
      });
      req.on('error', (e) => {
        result.failed.push({ status: 0, error: e.message });
        resolve();
      });
    });
  const loops = Array.from({ length: clients }, async () => {
    while (running && sent < maxRequests) {
      sent++;
      await once();
    }
  });
  return {
    result,
    /** Stops sending; resolves with the totals once every request in flight has finished. */
    async stop(): Promise<LoadResult> {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return result;
    },
  };
}
