// The relay pattern both signaling servers are measured with: clients in pairs, each sends
// sequence-numbered pings to its partner, who echoes them back; at most `window` pings in
// flight per client. Counts every message, so loss, duplication and misrouting show up.
import { WebSocket } from 'ws';

/** Adapters: how to connect a pair and how to send/recognise a relayed message. */
export const servers = {
  sotto: {
    async connectPair(origin, pairIndex) {
      const room = `benchroom${String(pairIndex).padStart(16, '0')}`;
      const ids = [`p${pairIndex}a`, `p${pairIndex}b`];
      const clients = [];
      for (const id of ids) {
        const ws = await open(`${origin.replace('http', 'ws')}/ws/room/${room}`);
        const welcomed = nextMessage(ws, (m) => m.type === 'welcome' || m.type === 'error');
        ws.send(JSON.stringify({ v: 1, type: 'join', peer: id, identity: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }));
        const reply = await welcomed;
        if (reply.type !== 'welcome') throw new Error(`join refused: ${JSON.stringify(reply)}`);
        clients.push({ ws, id });
      }
      return clients.map((c, i) => ({
        ...c,
        send: (payload) => c.ws.send(JSON.stringify({ v: 1, type: 'signal', to: clients[1 - i].id, payload })),
        decode: (m) => (m.type === 'signal' ? { from: m.from, payload: m.payload } : null),
      }));
    },
  },
  peerserver: {
    async connectPair(origin, pairIndex) {
      const ids = [`p${pairIndex}a`, `p${pairIndex}b`];
      const clients = [];
      for (const id of ids) {
        const ws = await open(`${origin.replace('http', 'ws')}/peerjs?key=peerjs&id=${id}&token=t${pairIndex}`);
        await nextMessage(ws, (m) => m.type === 'OPEN');
        clients.push({ ws, id });
      }
      return clients.map((c, i) => ({
        ...c,
        send: (payload) => c.ws.send(JSON.stringify({ type: 'CANDIDATE', dst: clients[1 - i].id, payload })),
        decode: (m) => (m.type === 'CANDIDATE' ? { from: m.src, payload: m.payload } : null),
      }));
    },
  },
};

// Messages can arrive in the same chunk as the upgrade response, before anyone listens:
// every socket keeps an early inbox until the first waiter looks at it.
function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { origin: new URL(url.replace('ws', 'http')).origin } });
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

/**
 * Runs the relay pattern: `clients` sockets (pairs), `perClient` pings each, `window` in
 * flight. Returns throughput, latency percentiles and integrity counts. Bounded: gives up
 * after `timeoutMs`.
 */
export async function runRelay({ server, origin, clients, perClient, window = 8, timeoutMs = 60_000 }) {
  const adapter = servers[server];
  const pairs = [];
  for (let i = 0; i < clients / 2; i += 1) pairs.push(await adapter.connectPair(origin, i));
  const everyone = pairs.flat();
  for (const c of everyone) c.ws.dropEarly();
  const rtts = [];
  let relayed = 0;
  let misrouted = 0;
  let duplicated = 0;
  const started = performance.now();
  await Promise.race([
    Promise.all(everyone.map((me) => new Promise((resolve) => {
      const partner = everyone.find((c) => c !== me && pairs.some((p) => p.includes(c) && p.includes(me)));
      const sentAt = new Map();
      let next = 0;
      let done = 0;
      const answered = new Set();
      const pump = () => {
        while (next < perClient && sentAt.size < window) {
          sentAt.set(next, performance.now());
          me.send(`ping:${me.id}:${next}`);
          next += 1;
        }
      };
      me.ws.on('message', (data) => {
        const decoded = me.decode(JSON.parse(data.toString()));
        if (!decoded) return;
        relayed += 1;
        if (decoded.from !== partner.id) { misrouted += 1; return; }
        const [kind, owner, seqText] = decoded.payload.split(':');
        const seq = Number(seqText);
        if (kind === 'ping') {
          me.send(`pong:${owner}:${seq}`);
        } else if (owner === me.id && sentAt.has(seq)) {
          if (answered.has(seq)) { duplicated += 1; return; }
          answered.add(seq);
          rtts.push(performance.now() - sentAt.get(seq));
          sentAt.delete(seq);
          done += 1;
          if (done === perClient) resolve();
          else pump();
        } else {
          duplicated += 1;
        }
      });
      pump();
    }))),
    new Promise((resolve) => setTimeout(resolve, timeoutMs)),
  ]);
  const seconds = (performance.now() - started) / 1000;
  for (const c of everyone) c.ws.terminate();
  rtts.sort((x, y) => x - y);
  const pct = (p) => (rtts.length ? rtts[Math.min(rtts.length - 1, Math.floor(rtts.length * p))] : NaN);
  const expected = clients * perClient;
  return {
    server, clients, perClient, window,
    messagesPerSecond: relayed / seconds,
    p50Ms: pct(0.5), p99Ms: pct(0.99),
    completedRoundTrips: rtts.length, expectedRoundTrips: expected,
    lost: expected - rtts.length, misrouted, duplicated, seconds,
  };
}
