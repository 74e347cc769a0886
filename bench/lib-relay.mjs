// The relay pattern every signaling server is measured with: clients in pairs, each sends
// sequence-numbered pings to its partner, who echoes them back; at most `window` pings in
// flight per client. Counts every message, so loss, duplication and misrouting show up.
//
// Like for like: the load runs in `procs` child processes (bench/relay-client.mjs), so that no
// load process is the bottleneck (their CPU is measured and reported), and every client states
// whether it offers permessage-deflate (`compression`). The server's own CPU is read from
// /proc/<pid>/stat of its processes at the start and end of the measured window, which gives
// CPU time per relayed message independent of how fast the clients are.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const TICKS_PER_SECOND = 100; // USER_HZ on Linux
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** CPU time (utime + stime, all threads) a process has used so far, in µs. */
export function cpuMicros(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_SECOND;
  } catch {
    return 0; // gone
  }
}

/** `pid` and every process below it. */
export function processTree(pid) {
  const parentOf = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* ended */ }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i += 1) {
    for (const [child, parent] of parentOf) if (parent === out[i]) out.push(child);
  }
  return out;
}

const serverCpu = (pids) => pids.reduce((n, pid) => n + cpuMicros(pid), 0);

function request(child, cmd, extra = {}) {
  return new Promise((resolve, reject) => {
    const onMessage = (msg) => {
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (msg.ok === 'error') reject(new Error(msg.error));
      else resolve(msg);
    };
    const onExit = (code) => reject(new Error(`load process exited (${code})`));
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send({ cmd, ...extra });
  });
}

const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : NaN);

/**
 * Runs the relay pattern against `origin`. `server`: 'sotto' (also the JS reference) or
 * 'peerserver'. `pids()`: the server's processes, for its CPU. `clients` sockets in pairs,
 * `roomSize` sockets per room (Sotto), `window` pings in flight per socket, spread over
 * `procs` load processes; warm-up, then a measured window of `windowMs`, then a drain that
 * must bring every ping back. `bodies`: payload bodies cycled through (default: tiny).
 */
export async function runRelay({ server, origin, pids, clients, window = 8, procs = 2, compression = false, roomSize = 2, warmupMs = 400, windowMs = 2500, bodies = [''] }) {
  const nonce = randomBytes(4).toString('hex');
  const specs = [];
  for (let i = 0; i < clients / 2; i += 1) {
    const room = `bench${nonce}r${String(Math.floor((2 * i) / roomSize)).padStart(12, '0')}`;
    const a = `p${i}a`;
    const b = `p${i}b`;
    specs.push({ id: a, partner: b, room }, { id: b, partner: a, room });
  }
  const children = [];
  try {
    for (let p = 0; p < Math.min(procs, specs.length); p += 1) {
      children.push(fork(path.join(here, 'relay-client.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    }
    const connected = await Promise.all(children.map((child, p) => request(child, 'connect', {
      server, origin, compression, window, payloadBodies: bodies,
      sockets: specs.filter((_, k) => k % children.length === p),
    })));
    const serverPids = pids();
    for (const child of children) child.send({ cmd: 'go' });
    await sleep(warmupMs);
    for (const child of children) child.send({ cmd: 'mark' });
    const cpu0 = serverCpu(serverPids);
    const t0 = performance.now();
    await sleep(windowMs);
    const stopped = children.map((child) => request(child, 'stop'));
    const cpu1 = serverCpu(serverPids);
    const seconds = (performance.now() - t0) / 1000;
    const done = (await Promise.all(stopped)).map((m) => m.stats);
    const relayed = done.reduce((n, s) => n + s.relayed, 0);
    const rtts = done.flatMap((s) => s.rtts).sort((x, y) => x - y);
    const clientPercents = done.map((s) => s.cpuMicros / 1e4 / seconds);
    const serverMicros = cpu1 - cpu0;
    return {
      server, clients, window, procs, roomSize, compression,
      negotiated: connected[0].extensions || 'none',
      seconds,
      relayed,
      messagesPerSecond: relayed / seconds,
      p50Ms: percentile(rtts, 0.5),
      p99Ms: percentile(rtts, 0.99),
      serverCpuPercent: serverMicros / 1e4 / seconds,
      serverUsPerMessage: relayed ? serverMicros / relayed : NaN,
      clientCpuMaxPercent: Math.max(...clientPercents),
      clientCpuTotalPercent: clientPercents.reduce((a, b) => a + b, 0),
      bytesInPerMessage: relayed ? done.reduce((n, s) => n + s.bytesIn, 0) / relayed : NaN,
      lost: done.reduce((n, s) => n + s.lost, 0),
      misrouted: done.reduce((n, s) => n + s.misrouted, 0),
      duplicated: done.reduce((n, s) => n + s.duplicated, 0),
    };
  } finally {
    for (const child of children) {
      if (child.connected) child.send({ cmd: 'close' });
    }
    await Promise.all(children.map((child) => (child.exitCode === null ? new Promise((r) => { child.once('exit', r); setTimeout(() => { child.kill('SIGKILL'); r(); }, 3000).unref(); }) : null)));
  }
}
