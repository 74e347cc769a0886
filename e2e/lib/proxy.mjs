// A recording proxy in front of the signaling worker: every HTTP request line and every
// WebSocket message in both directions is kept, so tests can prove what the server saw.
// `rewrite` hooks let adversarial tests play a malicious server: `rewriteMessage({direction,
// url, text, conn})` returns the text to pass on, null to drop it, or an array of texts to
// send instead (to inject messages); `conn.peer` is the peer id that client joined with.
// `connections()` lists the live client connections, each able to inject a message either
// way (`toClient(text)`, `toServer(text)`).
import http from 'node:http';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { freePort } from './ports.mjs';

// `staticRoot`, when given, serves files from that folder for non-WebSocket requests (an app
// under test) instead of forwarding them.
export async function startRecordingProxy({ upstream, port, rewriteUrl, rewriteMessage, staticRoot } = {}) {
  // Hooks can be swapped while running: `proxy.hooks.rewriteMessage = ...`.
  const hooks = { rewriteUrl, rewriteMessage };
  port ??= await freePort();
  const upstreamUrl = new URL(upstream);
  const record = { requests: [], messages: [] };
  const sockets = new Set();
  const conns = new Set();

  const server = http.createServer((req, res) => {
    record.requests.push({ method: req.method, url: req.url, headers: req.headers });
    if (staticRoot && serveStatic(staticRoot, req, res)) return;
    const forward = http.request(
      { host: upstreamUrl.hostname, port: upstreamUrl.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstreamUrl.host }, agent: false },
      (up) => { res.writeHead(up.statusCode, up.headers); up.pipe(res); },
    );
    forward.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(forward);
  });

  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    record.requests.push({ method: req.method, url: req.url, headers: req.headers, upgrade: true });
    const target = hooks.rewriteUrl ? hooks.rewriteUrl(req.url) : req.url;
    const upstreamSocket = new WebSocket(`ws://${upstreamUrl.host}${target}`, { headers: { origin: `http://${upstreamUrl.host}` } });
    const pending = [];
    upstreamSocket.on('error', () => socket.destroy());
    wss.handleUpgrade(req, socket, head, (client) => {
      sockets.add(client);
      sockets.add(upstreamSocket);
      const deliver = (to, out) => {
        if (to.readyState === WebSocket.OPEN) to.send(out);
        else if (to === upstreamSocket) pending.push(out);
      };
      const conn = {
        url: req.url,
        peer: null,
        toClient: (text) => deliver(client, text),
        toServer: (text) => deliver(upstreamSocket, text),
      };
      conns.add(conn);
      const relay = (from, to, direction) => from.on('message', (data, isBinary) => {
        const text = isBinary ? null : data.toString('utf8');
        record.messages.push({ direction, url: req.url, peer: conn.peer, text, bytes: isBinary ? Buffer.from(data) : null });
        if (direction === 'to-server' && !conn.peer && text) conn.peer = joinedAs(text);
        let out = isBinary ? data : text;
        if (!isBinary && hooks.rewriteMessage) out = hooks.rewriteMessage({ direction, url: req.url, text, conn });
        if (out === null || out === undefined) return;
        for (const one of Array.isArray(out) ? out : [out]) deliver(to, one);
      });
      relay(client, upstreamSocket, 'to-server');
      relay(upstreamSocket, client, 'to-client');
      upstreamSocket.on('open', () => { for (const m of pending.splice(0)) upstreamSocket.send(m); });
      client.on('close', () => { conns.delete(conn); upstreamSocket.close(); });
      upstreamSocket.on('close', (code) => client.close(code >= 1000 && code < 5000 && code !== 1005 && code !== 1006 ? code : 1000));
    });
  });

  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${port}`,
    record,
    hooks,
    /** Live client connections: `{ url, peer, toClient(text), toServer(text) }`. */
    connections: () => [...conns],
    /** Forgets what was recorded so far. */
    clear() { record.requests.length = 0; record.messages.length = 0; },
    /** Drops every open WebSocket, as a server restart would. */
    dropAll() { for (const s of sockets) s.terminate?.(); sockets.clear(); },
    async stop() {
      for (const s of sockets) s.terminate?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function joinedAs(text) {
  try {
    const message = JSON.parse(text);
    return message?.type === 'join' && typeof message.peer === 'string' ? message.peer : null;
  } catch {
    return null;
  }
}

const contentTypes = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };

function serveStatic(root, req, res) {
  const pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  const file = path.join(root, pathname.endsWith('/') ? `${pathname}index.html` : pathname);
  if (!file.startsWith(root)) return false;
  try {
    if (!statSync(file).isFile()) return false;
    res.writeHead(200, { 'content-type': contentTypes[path.extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
    return true;
  } catch {
    return false;
  }
}
