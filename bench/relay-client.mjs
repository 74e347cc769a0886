// One load-generator process of the relay benchmark (forked by bench/lib-relay.mjs). It holds
// some of the sockets; every socket belongs to a pair (possibly split across processes), sends
// sequence-numbered pings to its partner, who echoes them back, with at most `window` pings
// in flight. The parent drives it over IPC:
//   parent: {cmd:'connect', ...}  -> child: {ok:'connected', extensions}
//   parent: {cmd:'go'}            -> sockets start pumping
//   parent: {cmd:'mark'}          -> counters and CPU clock restart (end of warm-up)
//   parent: {cmd:'stop'}          -> counters and CPU read, pumping stops, in-flight pings drain
//                                    -> child: {ok:'done', stats}
//   parent: {cmd:'close'}         -> sockets closed, process exits (after every process drained)
import { WebSocket } from 'ws';

const adapters = {
  // Sotto's room protocol (also spoken by the plain JavaScript reference, bench/js-relay.mjs).
  sotto: {
    url: (origin, s) => `${origin.replace('http', 'ws')}/ws/room/${s.room}`,
    async join(ws, s) {
      const welcomed = nextMessage(ws, (m) => m.type === 'welcome' || m.type === 'error');
      ws.send(JSON.stringify({ v: 2, type: 'join', peer: s.id, identity: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }));
      const reply = await welcomed;
      if (reply.type !== 'welcome') throw new Error(`join refused: ${JSON.stringify(reply)}`);
    },
    send: (ws, to, payload) => ws.send(JSON.stringify({ v: 2, type: 'signal', to, payload })),
    decode: (m) => (m.type === 'signal' ? { from: m.from, payload: m.payload } : null),
  },
  peerserver: {
    url: (origin, s) => `${origin.replace('http', 'ws')}/peerjs?key=peerjs&id=${s.id}&token=t${s.id}`,
    async join(ws) {
      await nextMessage(ws, (m) => m.type === 'OPEN');
    },
    send: (ws, to, payload) => ws.send(JSON.stringify({ type: 'CANDIDATE', dst: to, payload })),
    decode: (m) => (m.type === 'CANDIDATE' ? { from: m.src, payload: m.payload } : null),
  },
};

// Messages can arrive in the same chunk as the upgrade response, before anyone listens:
// every socket keeps an early inbox until the first waiter looks at it.
function open(url, perMessageDeflate) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: perMessageDeflate ? { threshold: 0 } : false, headers: { origin: new URL(url.replace('ws', 'http')).origin } });
    ws.early = [];
    const keep = (data) => ws.early?.push(data);
    ws.on('message', keep);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.dropEarly = () => { ws.off('message', keep); ws.early = null; };
  });
}

function nextMessage(ws, predicate) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no reply in 10 s')), 10_000);
    const onMessage = (data) => {
      const message = JSON.parse(data.toString());
      if (predicate(message)) {
        clearTimeout(timer);
        ws.off('message', onMessage);
        resolve(message);
        return true;
      }
      return false;
    };
    for (const data of ws.early?.splice(0) ?? []) if (onMessage(data)) return;
    ws.on('message', onMessage);
  });
}

let sockets = [];
let pumping = false;
let marked = false;
let stats = freshStats();
let cpuAt;
let bodies = [''];

function freshStats() {
  return { relayed: 0, rtts: [], misrouted: 0, duplicated: 0, bytesIn: 0, bytesOut: 0 };
}

process.on('message', async (msg) => {
  try {
    if (msg.cmd === 'connect') await connect(msg);
    else if (msg.cmd === 'go') { pumping = true; stats = freshStats(); for (const s of sockets) s.pump(); }
    else if (msg.cmd === 'mark') { stats = freshStats(); marked = true; cpuAt = process.cpuUsage(); for (const s of sockets) s.markBytes(); }
    else if (msg.cmd === 'stop') await stop();
    else if (msg.cmd === 'close') { for (const s of sockets) s.ws.terminate(); sockets = []; process.disconnect(); }
  } catch (error) {
    process.send({ ok: 'error', error: String(error?.stack ?? error) });
  }
});

async function connect({ server, origin, compression, window, sockets: specs, payloadBodies }) {
  const adapter = adapters[server];
  bodies = payloadBodies?.length ? payloadBodies : [''];
  for (const spec of specs) {
    const ws = await open(adapter.url(origin, spec), compression);
    await adapter.join(ws, spec);
    sockets.push(makeSocket(adapter, ws, spec, window));
  }
  for (const s of sockets) s.ws.dropEarly();
  process.send({ ok: 'connected', extensions: sockets[0]?.ws.extensions ?? '' });
}

function makeSocket(adapter, ws, spec, window) {
  const sentAt = new Map();
  const answered = new Set();
  let next = 0;
  let bytesMark = { in: 0, out: 0 };
  const s = {
    ws,
    inFlight: () => sentAt.size,
    pump() {
      while (pumping && sentAt.size < window) {
        sentAt.set(next, performance.now());
        adapter.send(ws, spec.partner, `ping:${spec.id}:${next}:${bodies[next % bodies.length]}`);
        next += 1;
      }
    },
    markBytes() { bytesMark = { in: ws._socket.bytesRead, out: ws._socket.bytesWritten }; },
    bytes: () => ({ in: ws._socket.bytesRead - bytesMark.in, out: ws._socket.bytesWritten - bytesMark.out }),
  };
  ws.on('message', (data) => {
    const decoded = adapter.decode(JSON.parse(data.toString()));
    if (!decoded) return;
    stats.relayed += 1;
    if (decoded.from !== spec.partner) { stats.misrouted += 1; return; }
    const first = decoded.payload.indexOf(':');
    const second = decoded.payload.indexOf(':', first + 1);
    const third = decoded.payload.indexOf(':', second + 1);
    const kind = decoded.payload.slice(0, first);
    const owner = decoded.payload.slice(first + 1, second);
    const seq = Number(decoded.payload.slice(second + 1, third));
    if (kind === 'ping') {
      // The echo carries the same body back.
      adapter.send(ws, spec.partner, `pong${decoded.payload.slice(first)}`);
    } else if (owner === spec.id && sentAt.has(seq)) {
      if (answered.has(seq)) { stats.duplicated += 1; return; }
      answered.add(seq);
      if (marked) stats.rtts.push(performance.now() - sentAt.get(seq));
      sentAt.delete(seq);
      s.pump();
    } else {
      stats.duplicated += 1;
    }
  });
  return s;
}

async function stop() {
  const cpu = process.cpuUsage(cpuAt);
  const window = stats;
  const bytes = sockets.reduce((acc, s) => { const b = s.bytes(); return { in: acc.in + b.in, out: acc.out + b.out }; }, { in: 0, out: 0 });
  pumping = false;
  marked = false;
  stats = freshStats();
  // Drain: every ping sent must come back (or it is lost).
  const deadline = Date.now() + 10_000;
  while (sockets.some((s) => s.inFlight() > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const lost = sockets.reduce((n, s) => n + s.inFlight(), 0);
  process.send({
    ok: 'done',
    stats: {
      relayed: window.relayed,
      rtts: window.rtts,
      misrouted: window.misrouted + stats.misrouted,
      duplicated: window.duplicated + stats.duplicated,
      lost,
      cpuMicros: cpu.user + cpu.system,
      bytesIn: bytes.in,
      bytesOut: bytes.out,
    },
  });
}
