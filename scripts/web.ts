/**
 * npm run web [-- --port N] [--host H]: serves the web page (web/) on localhost. The page's
 * script is bundled once at start with esbuild (scripts/bundle.ts: the engine with every
 * kernel inlined), kept in memory, and served with index.html; nothing else is served.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import * as esbuild from 'esbuild';
import { browserBuildOptions } from './bundle.ts';
import { EXIT, parseArgs, runCli } from './cli.ts';
import { DEFAULT_SETTINGS, SETTING_NAMES } from '../web/settings.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const webDir = path.join(root, 'web');

/** The page's files by URL path: index.html and the bundled script with its source map. */
export async function buildWebPage(): Promise<Map<string, { type: string; body: Uint8Array }>> {
  const result = await esbuild.build({ ...browserBuildOptions(path.join(webDir, 'main.ts'), path.join(webDir, 'main.js')), write: false });
  const files = new Map<string, { type: string; body: Uint8Array }>();
  files.set('/', { type: 'text/html; charset=utf-8', body: fs.readFileSync(path.join(webDir, 'index.html')) });
  for (const out of result.outputFiles) {
    const name = `/${path.basename(out.path)}`;
    files.set(name, { type: name.endsWith('.map') ? 'application/json' : 'text/javascript; charset=utf-8', body: out.contents });
  }
  files.set('/index.html', files.get('/')!);
  return files;
}

export interface WebServer {
  url: string;
  close(): Promise<void>;
}

/** Builds the page and listens on host:port (port 0: a free one); resolves once listening. */
export async function startWebServer(opts: { port: number; host: string }): Promise<WebServer> {
  const files = await buildWebPage();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const file = req.method === 'GET' || req.method === 'HEAD' ? files.get(url.pathname) : undefined;
    if (!file) {
      res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 404 : 405, { 'content-type': 'text/plain' });
      res.end(`not found: ${url.pathname}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': file.type, 'content-length': file.body.length, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'EADDRINUSE' ? new Error(`--port ${opts.port}: the port is in use on ${opts.host}; choose another (--port 0 picks a free one)`) : e),
    );
    server.listen(opts.port, opts.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const hostInUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${hostInUrl}:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // a browser's keep-alive connections would hold close() open
      }),
  };
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new InvalidArgumentError(`expected an integer port in [0, 65535], got '${v}'`);
  return n;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const program = new Command()
    .name('web')
    .description(
      'Serve the web page: the engine trains a teacher, a student and a CrossKD student live in the browser on WebGPU, ' +
        'with the loss curve, detections and the target-conflict map. Open the printed URL in a browser with WebGPU.',
    )
    .option('--port <n>', 'port to listen on (0: any free port)', parsePort, 8080)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .addHelpText(
      'after',
      `\nPage settings as URL query (defaults shown), e.g. http://127.0.0.1:8080/?steps=20&autostart=1:\n  ${SETTING_NAMES.map((k) => `${k}=${DEFAULT_SETTINGS[k]}`).join(' ')} autostart=0\n` +
        'Exit codes: 0 ok (stopped with Ctrl-C), 2 bad arguments or the port is in use.',
    );
  await runCli(async () => {
    const o = parseArgs<{ port: number; host: string }>(program);
    const server = await startWebServer(o);
    console.log(`serving the web page on ${server.url} (Ctrl-C to stop)`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await server.close();
    return EXIT.ok;
  });
}
