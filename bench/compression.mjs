// The compression study: what permessage-deflate saves on real signaling traffic, and what it
// costs. Bytes: every frame one join puts on the two sockets (bench/signaling-corpus.mjs),
// deflated the way permessage-deflate does it (raw deflate, window 15, a sync flush per message
// with its 4-byte tail dropped), with context takeover (one stream per socket and direction, the
// default both browsers and workerd negotiate) and without. CPU: zlib compress + decompress
// per message in this process. Memory: workerd's resident size with many open compressed and
// uncompressed sockets.
import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import { WebSocket } from 'ws';
import { receivedFrames, joinMessages, wirePayload } from './signaling-corpus.mjs';
import { BENCH_VARS } from './targets.mjs';
import { SOTTO_WORKER, startWorkerd } from '../signaling-worker/tests/workerd.mjs';

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** One direction of a permessage-deflate socket: compress(text) -> bytes on the wire. */
function deflateStream() {
  const d = zlib.createDeflateRaw({ windowBits: 15, memLevel: 8 });
  const chunks = [];
  d.on('data', (c) => chunks.push(c));
  return async (buf) => {
    d.write(buf);
    await new Promise((r) => d.flush(zlib.constants.Z_SYNC_FLUSH, r));
    const out = Buffer.concat(chunks.splice(0));
    return out.subarray(0, out.length - TAIL.length);
  };
}

function inflateStream() {
  const i = zlib.createInflateRaw({ windowBits: 15 });
  const chunks = [];
  i.on('data', (c) => chunks.push(c));
  return async (buf) => {
    i.write(Buffer.concat([buf, TAIL]));
    await new Promise((r) => i.flush(zlib.constants.Z_SYNC_FLUSH, r));
    return Buffer.concat(chunks.splice(0));
  };
}

/** The frames a client sends for one join, per side. */
function sentFrames(form) {
  const ids = { a: 'peerA', b: 'peerB' };
  const out = { a: [], b: [] };
  for (const m of joinMessages()) {
    const to = m.from === 'a' ? 'b' : 'a';
    out[m.from].push({ kind: m.kind, text: JSON.stringify({ v: 2, type: 'signal', to: ids[to], payload: wirePayload(m.payload, form) }) });
  }
  return out;
}

async function bytesOf(form) {
  const streams = [...Object.values(receivedFrames(form)), ...Object.values(sentFrames(form))];
  const byKind = {};
  let raw = 0;
  let takeover = 0;
  let noTakeover = 0;
  for (const frames of streams) {
    const compress = deflateStream();
    for (const f of frames) {
      const buf = Buffer.from(f.text);
      const withContext = (await compress(buf)).length;
      const alone = zlib.deflateRawSync(buf, { windowBits: 15 }).length; // fresh context per message
      raw += buf.length;
      takeover += withContext;
      noTakeover += alone;
      const k = (byKind[f.kind] ??= { count: 0, raw: 0, takeover: 0 });
      k.count += 1;
      k.raw += buf.length;
      k.takeover += withContext;
    }
  }
  return { form, frames: streams.reduce((n, s) => n + s.length, 0), raw, takeover, noTakeover, saved: 1 - takeover / raw, byKind };
}

/** CPU (µs, all threads of this process) to compress and decompress every frame of a join. */
async function cpuOf(form, reps) {
  const streams = [...Object.values(receivedFrames(form)), ...Object.values(sentFrames(form))];
  const buffers = streams.map((s) => s.map((f) => Buffer.from(f.text)));
  const messages = buffers.reduce((n, s) => n + s.length, 0) * reps;
  const bytes = buffers.flat().reduce((n, b) => n + b.length, 0) * reps;
  const t0 = process.cpuUsage();
  for (let r = 0; r < reps; r += 1) {
    for (const frames of buffers) {
      const compress = deflateStream();
      const decompress = inflateStream();
      for (const buf of frames) await decompress(await compress(buf));
    }
  }
  const used = process.cpuUsage(t0);
  const micros = used.user + used.system;
  return { form, usPerMessage: micros / messages, usPerKB: micros / (bytes / 1024) };
}

/** workerd's resident memory with `sockets` joined sockets (8 per room), compressed or not. */
async function memoryOf(compression, sockets) {
  const target = await startWorkerd({ worker: SOTTO_WORKER, compression, vars: BENCH_VARS });
  const open = [];
  try {
    const before = rssOf(target.pids()[0]);
    for (let i = 0; i < sockets; i += 1) {
      const room = `memory${String(Math.floor(i / 8)).padStart(20, '0')}`;
      const ws = new WebSocket(`${target.origin.replace('http', 'ws')}/ws/room/${room}`, { perMessageDeflate: compression ? { threshold: 0 } : false });
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
      const welcomed = new Promise((resolve) => ws.once('message', resolve));
      ws.send(JSON.stringify({ v: 2, type: 'join', peer: `p${i}`, identity: 'AAAA' }));
      await welcomed;
      open.push(ws);
    }
    // Every socket has sent and received: both zlib contexts exist.
    await new Promise((r) => setTimeout(r, 300));
    const after = rssOf(target.pids()[0]);
    return { compression, sockets, bytesPerSocket: (after - before) / sockets };
  } finally {
    for (const ws of open) ws.terminate();
    await target.stop();
  }
}

function rssOf(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
}

export async function compressionStudy({ reps = 40, memorySockets = 400 } = {}) {
  const bytes = { v1: await bytesOf('v1'), v2: await bytesOf('v2') };
  const cpu = { v1: await cpuOf('v1', reps), v2: await cpuOf('v2', reps) };
  const memory = { off: await memoryOf(false, memorySockets), on: await memoryOf(true, memorySockets) };
  return { bytes, cpu, memory };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await compressionStudy(), null, 2));
}
