// Small HTTP client helpers over loopback.
import http from 'node:http';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function request(
  url: string,
  options: { method?: string; body?: string; headers?: Record<string, string>; agent?: http.Agent } = {},
): Promise<Reply> {
  return requestWith(url, options, (req) => req.end(options.body));
}

/** A request whose body `write` sends and ends (in pieces over time, say). */
export function requestWith(
  url: string,
  options: { method?: string; headers?: Record<string, string>; agent?: http.Agent },
  write: (req: http.ClientRequest) => void,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    write(req);
  });
}

export async function getJson<T = Record<string, unknown>>(url: string, agent?: http.Agent): Promise<T> {
  const reply = await request(url, agent ? { agent } : {});
  if (reply.status !== 200) throw new Error(`GET ${url} answered ${reply.status}: ${reply.body}`);
  return JSON.parse(reply.body) as T;
}
