// Bounded load: N clients in M rooms. Every client sends K sequence-numbered signals to its
// roommates (round robin), with at most WINDOW messages in flight overall. Reports msg/s and
// p50/p99 one-way latency, and checks that nothing is lost, duplicated or misrouted.
// Usage: node load.mjs [N=1000] [M=200] [K=20]   (SOTTO_ORIGIN=http://127.0.0.1:<port>)
import { WebSocket } from 'ws';
import { randomBytes } from 'node:crypto';

const N = Number(process.argv[2] ?? 1000);
const M = Number(process.argv[3] ?? 200);
const K = Number(process.argv[4] ?? 20);
const WINDOW = 400;
const TIME_LIMIT_MS = 180_000;
const ORIGIN = process.env.SOTTO_ORIGIN ?? 'http://127.0.0.1:8787';
const WS = ORIGIN.replace(/^http/, 'ws');
const started = Date.now();
const guard = setTimeout(() => { console.error('load: time limit reached'); process.exit(2); }, TIME_LIMIT_MS);

const rooms = Array.from({ length: M }, () => randomBytes(18).toString('base64url'));
const clients = Array.from({ length: N }, (_, i) => ({ i, room: i % M, peer: `c${i}`, got: new Map(), misrouted: 0, errors: [] }));
const byRoom = rooms.map((_, r) => clients.filter((c) => c.room === r));
const latencies = [];
let inFlight = 0;
let received = 0;

function open(c) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${WS}/ws/room/${rooms[c.room]}`, { headers: { origin: ORIGIN } });
    c.ws = ws;
    ws.on('message', (data) => {
      const m = JSON.parse(data);
      if (m.type === 'welcome') { c.welcomed = true; resolve(); return; }
      if (m.type === 'error') { c.errors.push(m.code); if (!c.welcomed) reject(new Error(m.code)); return; }
      if (m.type !== 'signal') return;
      const [room, from, seq, sentAt] = m.payload.split(':');
      if (Number(room) !== c.room || m.to !== c.peer || `c${from}` !== m.from) c.misrouted += 1;
      const key = `${from}:${seq}`;
      c.got.set(key, (c.got.get(key) ?? 0) + 1);
      latencies.push(performance.now() - Number(sentAt));
      inFlight -= 1;
      received += 1;
    });
    ws.once('open', () => ws.send(JSON.stringify({ v: 2, type: 'join', peer: c.peer, identity: 'AAAA' })));
    ws.once('error', reject);
  });
}

// Connect, 50 at a time.
const t0 = Date.now();
for (let i = 0; i < N; i += 50) await Promise.all(clients.slice(i, i + 50).map(open));
const connectMs = Date.now() - t0;

// Send: each client K messages, round robin over its roommates.
const plan = [];
for (let k = 0; k < K; k++) {
  for (const c of clients) {
    const mates = byRoom[c.room].filter((x) => x !== c);
    if (mates.length) plan.push([c, mates[k % mates.length], k]);
  }
}
const t1 = performance.now();
for (const [c, to, k] of plan) {
  while (inFlight >= WINDOW) await new Promise((r) => setImmediate(r));
  inFlight += 1;
  c.ws.send(JSON.stringify({ v: 2, type: 'signal', to: to.peer, payload: `${c.room}:${c.i}:${k}:${performance.now()}` }));
}
while (received < plan.length && Date.now() - started < TIME_LIMIT_MS - 5000) await new Promise((r) => setTimeout(r, 5));
const elapsed = (performance.now() - t1) / 1000;

let lost = 0;
let duplicated = 0;
const expected = new Map();
for (const [c, to, k] of plan) expected.set(`${to.i}|${c.i}:${k}`, true);
for (const key of expected.keys()) {
  const [to, rest] = key.split('|');
  const n = clients[Number(to)].got.get(rest) ?? 0;
  if (n === 0) lost += 1;
  if (n > 1) duplicated += n - 1;
}
const misrouted = clients.reduce((a, c) => a + c.misrouted, 0);
const errors = clients.flatMap((c) => c.errors);
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]?.toFixed(2);
console.log(JSON.stringify({
  clients: N, rooms: M, messages: plan.length, received, connect_ms: connectMs,
  msg_per_s: Math.round(received / elapsed), p50_ms: pct(0.5), p99_ms: pct(0.99), max_ms: latencies.at(-1)?.toFixed(2),
  lost, duplicated, misrouted, errors: errors.length,
}));
for (const c of clients) c.ws.terminate();
clearTimeout(guard);
process.exit(lost || duplicated || misrouted || errors.length ? 1 : 0);
