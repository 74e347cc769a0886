// The reference for the relay benchmark: what a plain JavaScript Durable Object on the same
// hibernation API costs per relayed message. It does what Sotto's room does on the relay path
// (parse, check version, type, target and payload size, stamp `from`, forward), written the way
// a careful JavaScript author would: one Map lookup per message, state rebuilt on wake from the
// sockets' attachments. Not a product: no limits, timeouts, roster messages or error codes.
import { DurableObject } from 'cloudflare:workers';

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (!pathname.startsWith('/ws/room/')) return new Response('not found', { status: 404 });
    const id = env.ROOM.idFromName(pathname.slice('/ws/room/'.length));
    return env.ROOM.get(id).fetch(request);
  },
};

export class Room extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.byPeer = new Map();
    this.peerOf = new Map();
    for (const ws of ctx.getWebSockets()) {
      const peer = ws.deserializeAttachment();
      if (peer) { this.byPeer.set(peer, ws); this.peerOf.set(ws, peer); }
    }
  }

  async fetch() {
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(ws, text) {
    let m;
    try { m = JSON.parse(text); } catch { return ws.send('{"v":2,"type":"error","code":"malformed-json"}'); }
    if (m.v !== 2) return ws.send('{"v":2,"type":"error","code":"unsupported-version"}');
    const from = this.peerOf.get(ws);
    if (m.type === 'signal') {
      const target = typeof m.to === 'string' ? this.byPeer.get(m.to) : undefined;
      if (!from || !target || typeof m.payload !== 'string' || m.payload.length > 60_000) {
        return ws.send('{"v":2,"type":"error","code":"invalid-message"}');
      }
      target.send(JSON.stringify({ type: 'signal', v: 2, from, to: m.to, payload: m.payload }));
    } else if (m.type === 'join' && !from && typeof m.peer === 'string' && !this.byPeer.has(m.peer)) {
      ws.serializeAttachment(m.peer);
      this.byPeer.set(m.peer, ws);
      this.peerOf.set(ws, m.peer);
      ws.send(JSON.stringify({ type: 'welcome', v: 2, you: m.peer, peers: [], max_peers: 8 }));
    } else if (m.type === 'ping') {
      ws.send('{"type":"pong","v":2}');
    } else {
      ws.send('{"v":2,"type":"error","code":"invalid-message"}');
    }
  }

  webSocketClose(ws) {
    const peer = this.peerOf.get(ws);
    if (peer) { this.byPeer.delete(peer); this.peerOf.delete(ws); }
    try { ws.close(1000, 'closed'); } catch { /* already */ }
  }
}
