// Presence fan-out under load (issue 16, Scale): N identities with K contacts each on Sotto's
// worker on raw workerd (one Presence object, as deployed today). Usage:
//   node bench/presence-load.mjs [identities=2000] [contacts=50] [updates=400] [concurrency=20]
// Run it inside a loopback-only namespace like the other benchmarks:
//   unshare -n sh -c 'ip link set lo up && exec node bench/presence-load.mjs'
//
// The contact graph is a circulant one: identity i knows i±1..i±K/2 (mod N), so every identity
// has exactly K contacts and there are N*K/2 pairs. Each pair has two random 16-byte channel
// ids (one per direction), as sotto-contacts derives them (the server cannot tell the
// difference). MAX_ANNOUNCE_CHANNELS is 32 today, so an identity announces on two sockets
// (K/2 each); the first also subscribes to its K incoming channels.
//
// Phases: (1) connect and announce everybody, timed; (2) `updates` presence changes (an
// identity goes offline by announcing nothing on both sockets, then online again), `concurrency`
// at a time: every notification's latency from the announce to its arrival at each contact's
// subscriber socket (same process, same clock), p50/p99, and notifications per second. Server
// CPU from /proc. Prints one JSON object.
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { startWorkerd } from '../signaling-worker/tests/workerd.mjs';
import { cpuMicros } from './lib-relay.mjs';

const N = Number(process.argv[2] ?? 2000);
const K = Number(process.argv[3] ?? 50);
const UPDATES = Number(process.argv[4] ?? 400);
const CONCURRENCY = Number(process.argv[5] ?? 20);
const HALF = K / 2;
if (!Number.isInteger(HALF) || K >= N) throw new Error('contacts must be even and below identities');

const log = (line) => process.stderr.write(`[presence-load] ${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

// channel[i][j] for j in 0..K: the channel identity i announces to its j-th contact; the
// contact's subscription to it is the same id.
const contactsOf = (i) => Array.from({ length: K }, (_, j) => {
  const d = j < HALF ? j + 1 : -(j - HALF + 1);
  return (i + d + N) % N;
});
const pairChannel = new Map(); // "a>b" -> id
const channelFor = (from, to) => {
  const key = `${from}>${to}`;
  let id = pairChannel.get(key);
  if (!id) {
    id = randomBytes(16).toString('base64url');
    pairChannel.set(key, id);
  }
  return id;
};
const announced = Array.from({ length: N }, (_, i) => contactsOf(i).map((c) => channelFor(i, c)));
const subscribed = Array.from({ length: N }, (_, i) => contactsOf(i).map((c) => channelFor(c, i)));
// Who hears about a channel: channel id -> listener identity.
const listener = new Map();
for (let i = 0; i < N; i++) for (const [j, c] of contactsOf(i).entries()) listener.set(announced[i][j], c);

const worker = await startWorkerd({ vars: {} });
const origin = worker.origin;
const wsUrl = `${origin.replace(/^http/, 'ws')}/ws/presence`;
let received = 0;
let errors = 0;
const errorCodes = {};
// Pending notifications: `${channel}:${online}` -> send time.
const pending = new Map();
const latencies = [];

function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { headers: { origin }, perMessageDeflate: false });
    ws.on('message', (data) => {
      received += 1;
      const m = JSON.parse(data.toString());
      if (m.type === 'error') { errors += 1; errorCodes[m.code] = (errorCodes[m.code] ?? 0) + 1; return; }
      if (m.type !== 'presence') return;
      const key = `${m.channel}:${m.online}`;
      const at = pending.get(key);
      if (at !== undefined) {
        latencies.push(performance.now() - at);
        pending.delete(key);
      }
    });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

const send = (ws, msg) => ws.send(JSON.stringify({ v: 2, ...msg }));
const sockets = []; // [i] = [a, b]
const server0 = cpuMicros(worker.pids()[0]);
const t0 = performance.now();
const BATCH = 100;
for (let start = 0; start < N; start += BATCH) {
  const batch = [];
  for (let i = start; i < Math.min(N, start + BATCH); i++) {
    batch.push(Promise.all([open(), open()]).then(([a, b]) => {
      sockets[i] = [a, b];
      send(a, { type: 'subscribe', channels: subscribed[i] });
      send(a, { type: 'announce', channels: announced[i].slice(0, HALF) });
      send(b, { type: 'announce', channels: announced[i].slice(HALF) });
    }));
  }
  await Promise.all(batch);
}
// Everybody online: wait until the arrivals stop growing.
for (let last = -1; received !== last; ) { last = received; await sleep(500); }
const setupMs = performance.now() - t0 - 500;
const setupMessages = received;
const server1 = cpuMicros(worker.pids()[0]);
log(`setup: ${N} identities x ${K} contacts, ${2 * N} sockets, ${setupMessages} messages in ${setupMs.toFixed(0)} ms, errors ${errors} ${JSON.stringify(errorCodes)}`);

// Keep the sockets alive (idle timeout 60 s).
const keepalive = setInterval(() => {
  for (const pair of sockets) for (const ws of pair) send(ws, { type: 'ping' });
}, 20_000);

async function toggle(i) {
  const [a, b] = sockets[i];
  const t = performance.now();
  for (const ch of announced[i]) pending.set(`${ch}:false`, t);
  send(a, { type: 'announce', channels: [] });
  send(b, { type: 'announce', channels: [] });
  await until(() => announced[i].every((ch) => !pending.has(`${ch}:false`)));
  const t2 = performance.now();
  for (const ch of announced[i]) pending.set(`${ch}:true`, t2);
  send(a, { type: 'announce', channels: announced[i].slice(0, HALF) });
  send(b, { type: 'announce', channels: announced[i].slice(HALF) });
  await until(() => announced[i].every((ch) => !pending.has(`${ch}:true`)));
}

async function until(pred, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('notification did not arrive');
    await sleep(2);
  }
}

latencies.length = 0;
const received0 = received;
const t1 = performance.now();
const server2 = cpuMicros(worker.pids()[0]);
let next = 0;
// Distinct identities in random order (cycled if more updates than identities), so that no
// two lanes toggle the same identity at once.
const shuffled = Array.from({ length: N }, (_, i) => i);
for (let i = N - 1; i > 0; i--) {
  const j = Math.floor(Math.random() * (i + 1));
  [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
}
const order = Array.from({ length: UPDATES }, (_, k) => shuffled[k % N]);
if (CONCURRENCY > N) throw new Error('concurrency must be below identities');
await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
  while (next < UPDATES) {
    const i = order[next++];
    await toggle(i);
  }
}));
const updateSeconds = (performance.now() - t1) / 1000;
const server3 = cpuMicros(worker.pids()[0]);
clearInterval(keepalive);
const sorted = latencies.slice().sort((x, y) => x - y);
const notifications = received - received0;
const result = {
  identities: N,
  contacts: K,
  sockets: 2 * N,
  pairs: (N * K) / 2,
  channels: N * K,
  setup: {
    ms: Math.round(setupMs),
    messages: setupMessages,
    serverCpuSeconds: (server1 - server0) / 1e6,
  },
  updates: {
    presenceChanges: UPDATES * 2,
    notifications,
    seconds: Number(updateSeconds.toFixed(2)),
    notificationsPerSecond: Math.round(notifications / updateSeconds),
    latencyP50Ms: Number(pct(sorted, 50).toFixed(2)),
    latencyP99Ms: Number(pct(sorted, 99).toFixed(2)),
    latencyMaxMs: Number(sorted[sorted.length - 1].toFixed(2)),
    samples: sorted.length,
    serverCpuSecondsPerThousandNotifications: Number((((server3 - server2) / 1e6) / (notifications / 1000)).toFixed(3)),
    concurrency: CONCURRENCY,
  },
  errors,
  errorCodes,
  loadAverage: (await import('node:os')).loadavg().map((x) => Number(x.toFixed(1))),
};
console.log(JSON.stringify(result, null, 2));
for (const pair of sockets) for (const ws of pair) ws.terminate();
await worker.stop();
