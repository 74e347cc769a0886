// Test helpers: a WebSocket client with an inbox, and small waits. Every wait is bounded.
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';

export const ORIGIN = process.env.SOTTO_ORIGIN ?? 'http://127.0.0.1:8787';
export const WS = ORIGIN.replace(/^http/, 'ws');

export const roomId = () => randomBytes(18).toString('base64url'); // 24 chars
export const channelId = () => randomBytes(16).toString('base64url'); // 22 chars
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Opens a socket; `origin` null sends no Origin header. Resolves once open (or closed). */
export function connect(path, { origin = ORIGIN } = {}) {
  const headers = origin ? { origin } : {};
  const ws = new WebSocket(`${WS}${path}`, { headers });
  const client = {
    ws,
    inbox: [],
    waiters: [],
    closeInfo: null,
    send(message) {
      ws.send(typeof message === 'string' || message instanceof Uint8Array ? message : JSON.stringify(message));
    },
    /** Waits for the first inbox message (from `from` on) matching `pred`. */
    async next(pred = () => true, { timeout = 3000, from = 0 } = {}) {
      const deadline = Date.now() + timeout;
      for (;;) {
        const found = client.inbox.slice(from).find(pred);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`timed out waiting; inbox: ${JSON.stringify(client.inbox).slice(0, 500)}`);
        await sleep(5);
      }
    },
    async error(code, opts) {
      return client.next((m) => m.type === 'error' && (code === undefined || m.code === code), opts);
    },
    async closed(timeout = 5000) {
      const deadline = Date.now() + timeout;
      while (!client.closeInfo) {
        if (Date.now() > deadline) throw new Error('socket did not close');
        await sleep(5);
      }
      return client.closeInfo;
    },
    /** Ping/pong round trip: proves the connection is open and in a sane state. */
    async alive() {
      const from = client.inbox.length;
      client.send({ v: 2, type: 'ping' });
      await client.next((m) => m.type === 'pong', { from });
      return true;
    },
    close() {
      try { ws.close(); } catch { /* already */ }
    },
  };
  ws.on('message', (data, isBinary) => {
    client.inbox.push(isBinary ? { type: '<binary>' } : JSON.parse(data.toString('utf8')));
  });
  ws.on('close', (code, reason) => { client.closeInfo = { code, reason: reason.toString() }; });
  ws.on('error', () => { client.closeInfo ??= { code: 1006, reason: 'error' }; });
  return new Promise((resolve) => {
    ws.once('open', () => resolve(client));
    ws.once('close', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => { client.closeInfo = { code: -res.statusCode, reason: 'http' }; resolve(client); });
  });
}

/** Connects to `room` and joins as `peer`; resolves with the client after `welcome`. */
export async function joinRoom(room, peer, identity = 'AAAA') {
  const c = await connect(`/ws/room/${room}`);
  c.send({ v: 2, type: 'join', peer, identity });
  c.welcome = await c.next((m) => m.type === 'welcome' || m.type === 'error');
  return c;
}
