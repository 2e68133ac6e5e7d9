// The dashboard's files: the page, its script and style from the package's dashboard/ folder, and uPlot's
// built files from its npm package, so the page works offline (nothing from a CDN). Read once, on first use.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { packageFile } from '../package-root.js';

export interface Asset {
  body: Buffer;
  type: string;
}

const require = createRequire(import.meta.url);
/** dashboard/ at the package root. */
const own = (name: string) => packageFile(`dashboard/${name}`);

const FILES: Record<string, { path: () => string; type: string }> = {
  '/': { path: () => own('index.html'), type: 'text/html; charset=utf-8' },
  '/dashboard.js': { path: () => own('dashboard.js'), type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { path: () => own('dashboard.css'), type: 'text/css; charset=utf-8' },
  '/uplot.js': {
    path: () => require.resolve('uplot/dist/uPlot.iife.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  '/uplot.css': { path: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

const cache = new Map<string, Promise<Asset>>();

/** The asset served at `pathname`, or undefined for any other path. */
export function asset(pathname: string): Promise<Asset> | undefined {
  const file = FILES[pathname === '/index.html' ? '/' : pathname];
  if (!file) return undefined;
  let loaded = cache.get(pathname);
  if (!loaded) {
    loaded = readFile(file.path()).then((body) => ({ body, type: file.type }));
    loaded.catch(() => cache.delete(pathname));
    cache.set(pathname, loaded);
  }
  return loaded;
}
