// A plain static file server on loopback: the "any static host" the deployable page
// (scripts/build-www.mjs) is served from when the signaling worker runs without assets. It
// serves files from one folder and nothing else: no proxying, no API, 404 for the rest.
// `requests` lists the paths asked for.
import http from 'node:http';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { freePort } from './ports.mjs';

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json' };

export async function startStaticServer({ root, port } = {}) {
  port ??= await freePort();
  const base = path.resolve(root);
  const requests = [];
  const server = http.createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    requests.push(pathname);
    const file = path.join(base, pathname.endsWith('/') ? `${pathname}index.html` : pathname);
    let body = null;
    if (req.method === 'GET' && file.startsWith(base + path.sep)) {
      try {
        if (statSync(file).isFile()) body = readFileSync(file);
      } catch { /* not there */ }
    }
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(body);
  });
  server.on('upgrade', (req, socket) => socket.destroy()); // a static host has no WebSockets
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    requests,
    stop: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }),
  };
}
