// The signaling relay benchmark (section 4 of BENCHMARKS.md), like for like:
//   1. compression off on every side: PeerServer, Sotto on raw workerd, the plain JavaScript
//      Durable Object reference on raw workerd, Sotto on `wrangler dev`; 2, 20 and 200
//      clients; windowed throughput (8 in flight per client) and one-in-flight latency;
//      server CPU per relayed message; load-process CPU
//   2. compression on every side (clients offer permessage-deflate, every server compresses)
//   3. realistic traffic (SDP, ICE, sealed keys; v1 and v2 payload forms) on raw workerd with
//      and without compression: what compression costs the server per message
//   4. the per-room ceiling: one Room object, 8 clients, as many messages as it takes
//   5. the compression study (bench/compression.mjs): bytes saved, zlib CPU, socket memory
// Rounds alternate between servers; every figure is the median of the rounds.
import os from 'node:os';
import { runRelay } from './lib-relay.mjs';
import { compressionStudy } from './compression.mjs';
import { relayBodies } from './signaling-corpus.mjs';
import { startTarget } from './targets.mjs';

const log = (line) => process.stdout.write(`[bench] relay: ${line}\n`);
const median = (values) => {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length ? v[Math.floor(v.length / 2)] : NaN;
};
const sum = (values) => values.reduce((a, b) => a + b, 0);

// Enough load processes that none is near a core (reported: clientCpuMaxPercent).
const PROCS = { 2: 2, 8: 2, 20: 2, 200: 3 };

/** Medians over rounds of one (server, setting) cell; integrity counts are summed. */
function summarize(runs) {
  const out = { rounds: runs.length, negotiated: runs[0]?.negotiated };
  for (const key of ['messagesPerSecond', 'p50Ms', 'p99Ms', 'serverUsPerMessage', 'serverCpuPercent', 'clientCpuMaxPercent', 'clientCpuTotalPercent', 'bytesInPerMessage']) {
    out[key] = median(runs.map((r) => r[key]));
  }
  out.clientCpuMaxPercentWorst = Math.max(...runs.map((r) => r.clientCpuMaxPercent));
  out.serverUsPerMessageAll = runs.map((r) => r.serverUsPerMessage);
  for (const key of ['lost', 'misrouted', 'duplicated', 'relayed']) out[key] = sum(runs.map((r) => r[key]));
  return out;
}

const fmt = (x) => `${x.messagesPerSecond.toFixed(0)} msg/s, ${x.serverUsPerMessage.toFixed(1)} µs/msg, p50 ${x.p50Ms.toFixed(2)} p99 ${x.p99Ms.toFixed(2)} ms, client max ${x.clientCpuMaxPercent.toFixed(0)}%`;

async function withTargets(names, compression, body) {
  const running = {};
  try {
    for (const name of names) running[name] = await startTarget(name, { compression });
    return await body(running);
  } finally {
    for (const t of Object.values(running)) await t.stop();
  }
}

/** Throughput (window 8) and latency (window 1) runs for each target, alternating. */
async function compare(targets, { clients, rounds, compression, windowMs }) {
  const runs = Object.fromEntries(Object.keys(targets).map((n) => [n, { load: [], idle: [] }]));
  for (let round = 0; round < rounds; round += 1) {
    for (const [name, t] of Object.entries(targets)) {
      const common = { server: t.protocol, origin: t.origin, pids: t.pids, clients, procs: PROCS[clients] ?? 3, compression, windowMs };
      runs[name].load.push(await runRelay({ ...common, window: 8 }));
      runs[name].idle.push(await runRelay({ ...common, window: 1 }));
    }
  }
  const row = { clients, compression, targets: {} };
  // Sotto against the plain JavaScript object round by round (the machine's load drifts between
  // rounds; each round's pair ran back to back).
  if (runs.workerd && runs.js) {
    row.workerdOverJs = runs.workerd.load.map((r, i) => r.serverUsPerMessage / runs.js.load[i].serverUsPerMessage);
    row.workerdOverJsMedian = median(row.workerdOverJs);
  }
  for (const [name, r] of Object.entries(runs)) {
    const load = summarize(r.load);
    const idle = summarize(r.idle);
    row.targets[name] = {
      label: targets[name].label,
      throughput: load,
      latency: idle,
      // The headline figures: throughput and CPU per message under load, latency with one in flight.
      messagesPerSecond: load.messagesPerSecond,
      serverUsPerMessage: load.serverUsPerMessage,
      p50Ms: idle.p50Ms,
      p99Ms: idle.p99Ms,
      loadedP99Ms: load.p99Ms,
      clientCpuMaxPercent: Math.max(load.clientCpuMaxPercentWorst, idle.clientCpuMaxPercentWorst),
      lost: load.lost + idle.lost,
      misrouted: load.misrouted + idle.misrouted,
      duplicated: load.duplicated + idle.duplicated,
    };
    log(`${compression ? 'compressed' : 'plain'} ${clients} clients, ${name}: ${fmt({ ...load, p50Ms: idle.p50Ms, p99Ms: idle.p99Ms })}`);
  }
  return row;
}

export async function relayBench({ rounds = 3, windowMs = 1500, counts = [2, 20, 200] } = {}) {
  // The machine may be shared: its load average frames every figure below.
  const out = { date: new Date().toISOString(), loadAverageAtStart: os.loadavg()[0] };
  // 1. Like for like, compression off everywhere.
  out.plain = await withTargets(['peerserver', 'workerd', 'js', 'wrangler'], false, async (targets) => {
    const rows = [];
    for (const clients of counts) rows.push(await compare(targets, { clients, rounds, compression: false, windowMs }));
    // 4. The per-room ceiling: one Room object, 8 clients (4 pairs), 16 in flight each.
    const ceiling = [];
    for (let round = 0; round < rounds; round += 1) {
      const t = targets.workerd;
      ceiling.push(await runRelay({ server: t.protocol, origin: t.origin, pids: t.pids, clients: 8, roomSize: 8, window: 16, procs: 2, windowMs }));
    }
    const room = summarize(ceiling);
    room.cpuBoundMessagesPerSecond = 1e6 / room.serverUsPerMessage;
    log(`one room, 8 clients: ${fmt(room)}, server ${room.serverCpuPercent.toFixed(0)}% of a core`);
    return { rows, roomCeiling: room };
  });
  // 2. Compression on everywhere, at 200 clients.
  out.compressed = await withTargets(['peerserver', 'workerd', 'wrangler'], true, async (targets) => ({
    rows: [await compare(targets, { clients: 200, rounds, compression: true, windowMs })],
  }));
  // 3. Realistic traffic on raw workerd, compression off and on, alternating.
  out.realistic = await withTargets(['workerd'], false, (plain) => withTargets(['workerd'], true, async (deflate) => {
    const cells = {};
    for (let round = 0; round < rounds; round += 1) {
      for (const form of ['v1', 'v2']) {
        for (const [compression, t] of [[false, plain.workerd], [true, deflate.workerd]]) {
          const key = `${form}-${compression ? 'on' : 'off'}`;
          (cells[key] ??= []).push(await runRelay({ server: t.protocol, origin: t.origin, pids: t.pids, clients: 20, window: 4, procs: 2, compression, windowMs, bodies: relayBodies(form) }));
        }
      }
    }
    const result = Object.fromEntries(Object.entries(cells).map(([k, runs]) => [k, summarize(runs)]));
    for (const [k, r] of Object.entries(result)) log(`realistic ${k}: ${fmt(r)}`);
    return result;
  }));
  // 5. Bytes, zlib CPU and socket memory.
  out.compressionStudy = await compressionStudy();
  const s = out.compressionStudy;
  out.loadAverageAtEnd = os.loadavg()[0];
  log(`compression study: v1 ${s.bytes.v1.raw} -> ${s.bytes.v1.takeover} B per join, v2 ${s.bytes.v2.raw} -> ${s.bytes.v2.takeover} B; memory ${(s.memory.off.bytesPerSocket / 1024).toFixed(0)} vs ${(s.memory.on.bytesPerSocket / 1024).toFixed(0)} KB per socket`);
  return out;
}
