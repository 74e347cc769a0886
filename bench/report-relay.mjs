// Renders section 4 of BENCHMARKS.md (the signaling relay) from results.relay, the figures
// recorded before the per-message path was trimmed (bench/relay-before-trim.json) and the
// CPU profiles (bench/relay-profile.json, made by bench/profile.mjs).
import { existsSync, readFileSync } from 'node:fs';

const f = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const int = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const verdict = (ok) => (ok ? 'met' : '**missed**');
const read = (name) => {
  const url = new URL(name, import.meta.url);
  return existsSync(url) ? JSON.parse(readFileSync(url, 'utf8')) : null;
};

// Targets (issue 17): server CPU per relayed message on raw workerd, and against the plain
// JavaScript Durable Object on the same runtime.
export const TARGET_US = 40;
export const TARGET_RATIO_TO_JS = 1.35;

// The call the 10,000-room estimate assumes: 4 participants for an hour, keepalive every 15 s.
const CALL = { participants: 4, minutes: 60, keepaliveSeconds: 15, messagesPerNegotiation: 20 };

/** Server events one such call causes in its Room object, by kind. */
export function callEvents({ participants: n, minutes, keepaliveSeconds, messagesPerNegotiation }) {
  const negotiations = (n * (n - 1)) / 2 * messagesPerNegotiation;
  // Each join and each leave rotates every member's key: k(k-1) sealed keys and as many acks.
  let keys = 0;
  for (let k = 2; k <= n; k += 1) keys += 2 * k * (k - 1);
  for (let k = n - 1; k >= 2; k -= 1) keys += 2 * k * (k - 1);
  const joins = n;
  const keepalives = n * ((minutes * 60) / keepaliveSeconds);
  return { joins, negotiations, keys, keepalives, total: joins + negotiations + keys + keepalives };
}

const SERVERS = [
  ['peerserver', 'PeerServer (npm `peer` 1.0.2)'],
  ['workerd', 'Sotto, raw workerd'],
  ['before', 'Sotto, raw workerd, before trimming'],
  ['js', 'plain JS Durable Object, raw workerd'],
  ['wrangler', 'Sotto, `wrangler dev`'],
];

function row(clients, label, x) {
  if (!x) return null;
  return `| ${clients} | ${label} | ${int(x.messagesPerSecond)} | ${f(x.serverUsPerMessage)} | ${f(x.p50Ms, 2)} / ${f(x.p99Ms, 2)} | ${f(x.loadedP99Ms, 1)} | ${f(x.clientCpuMaxPercent, 0)}% | ${x.lost} / ${x.misrouted} / ${x.duplicated} |`;
}

export function relaySection(relay) {
  const before = read('./relay-before-trim.json');
  const profile = read('./relay-profile.json');
  const lines = [];
  const rows = relay.plain.rows;
  const at = (clients) => rows.find((x) => x.clients === clients)?.targets;
  const beforeAt = (clients) => before?.relay.plain.rows.find((x) => x.clients === clients)?.targets.workerd;
  const workerAt = (clients) => at(clients)?.workerd;
  const us = (clients, name) => at(clients)?.[name]?.serverUsPerMessage;
  const top = Math.max(...rows.map((x) => x.clients));

  lines.push('## 4. Signaling relay, like for like', '');
  const m = relay.machine;
  const load = Number.isFinite(relay.loadAverageAtStart) ? ` Load average (1 min) ${f(relay.loadAverageAtStart, 1)} at the start, ${f(relay.loadAverageAtEnd, 1)} at the end: the machine is shared, so absolute figures move between runs; ratios within a run hold better.` : '';
  lines.push(`Run: ${relay.date}${m ? ` on ${m.cpus} cores (${m.model}), Linux ${m.kernel}, Node ${m.node}` : ''}.${load}`);
  lines.push('Clients in pairs send sequence-numbered pings to their partner through the server, which');
  lines.push('echoes them back; every message is counted, so loss, duplication and misrouting show. Throughput and server CPU:');
  lines.push('8 pings in flight per client; latency: 1 in flight (a round trip crosses the server twice). The load runs in');
  lines.push('2-3 Node processes (`ws` 8.23); "load CPU" is the busiest one\'s share of a core in the worst round, so no load');
  lines.push('process is the bottleneck. **Server CPU per message** is utime + stime of every server process (`/proc/<pid>/stat`)');
  lines.push('over the measured window divided by the messages relayed in it: it does not depend on how fast the clients are.');
  lines.push('The worker\'s per-socket abuse limit (50 msg/s) is lifted with vars; raw workerd runs the same build from a');
  lines.push('generated config (`signaling-worker/tests/workerd.mjs`); `wrangler dev` adds its dev proxy (a second workerd);');
  lines.push('the plain JavaScript Durable Object (`bench/js-relay.mjs`) does the same relay on the same hibernation API and');
  lines.push('is the reference for what the runtime itself costs. Medians of 3 alternating rounds. msg/s depends on');
  lines.push('everything that shares this machine\'s 2 cores (the load processes, other work), so the figure that compares');
  lines.push('servers is the CPU per message.', '');

  lines.push('### 4a. Compression off on both sides (clients offer no permessage-deflate; workerd `no_web_socket_compression`; PeerServer compresses nothing)', '');
  lines.push('| clients | server | msg/s | server CPU µs/msg | p50 / p99 ms, 1 in flight | p99 ms, 8 in flight | load CPU | lost / misrouted / dup |');
  lines.push('|---|---|---|---|---|---|---|---|');
  for (const x of rows) {
    for (const [key, label] of SERVERS) {
      const cell = key === 'before' ? beforeAt(x.clients) : x.targets[key];
      const r = row(x.clients, label, cell);
      if (r) lines.push(r);
    }
  }
  lines.push('');
  if (before) lines.push(`"Before trimming": the same harness on this machine at commit ${before.commit.slice(0, 7)}, before the relay fast path and the synchronous handlers (bench/relay-before-trim.json).`, '');

  const worst = Math.max(...rows.map((x) => us(x.clients, 'workerd')));
  // Median of the per-round ratios where recorded (each round's pair ran back to back).
  const ratioAt = (x) => x.workerdOverJsMedian ?? x.targets.workerd.serverUsPerMessage / x.targets.js.serverUsPerMessage;
  const ratios = rows.map((x) => [x.clients, ratioAt(x), x.workerdOverJs]);
  const ratio = Math.max(...ratios.map(([, r]) => r));
  const lost = rows.reduce((n, x) => n + Object.values(x.targets).reduce((m, t) => m + t.lost + t.misrouted + t.duplicated, 0), 0);
  lines.push(`Targets on raw workerd: server CPU ≤ ${TARGET_US} µs per relayed message: ${verdict(worst <= TARGET_US)} (${f(worst)} µs at worst, ${f(us(top, 'workerd'))} at ${top} clients; ${before ? `${f(beforeAt(top)?.serverUsPerMessage)} before trimming` : ''});`);
  lines.push(`within ${TARGET_RATIO_TO_JS}x of the plain JavaScript Durable Object: ${verdict(ratio <= TARGET_RATIO_TO_JS)} (${ratios.map(([c, r, all]) => `${f(r, 2)}x at ${c} clients${all ? ` [rounds ${all.map((v) => f(v, 2)).join(', ')}]` : ''}`).join('; ')});`);
  lines.push(`nothing lost, misrouted or duplicated on any server: ${verdict(lost === 0)}. PeerServer relays a message for ${f(us(top, 'peerserver'))} µs:`);
  lines.push('one Node process, no isolate boundary, no per-object routing, no hibernation bookkeeping; the runtime\'s own path');
  lines.push(`(what the plain JavaScript object costs) is ${f(us(top, 'js') / us(top, 'peerserver'), 1)}x that, and Sotto now adds ${f((ratioAt(rows.find((x) => x.clients === top)) - 1) * 100, 0)}% to it at ${top} clients.`, '');

  const comp = relay.compressed.rows[0];
  lines.push(`### 4b. Compression on both sides (${comp.clients} clients; clients offer permessage-deflate, every server compresses every message)`, '');
  lines.push('| server | negotiated | msg/s | server CPU µs/msg | p50 / p99 ms, 1 in flight | p99 ms, 8 in flight | load CPU | lost / misrouted / dup |');
  lines.push('|---|---|---|---|---|---|---|---|');
  for (const [key, label] of SERVERS) {
    const x = comp.targets[key];
    if (!x) continue;
    lines.push(`| ${label} | ${x.throughput.negotiated} | ${int(x.messagesPerSecond)} | ${f(x.serverUsPerMessage)} | ${f(x.p50Ms, 2)} / ${f(x.p99Ms, 2)} | ${f(x.loadedP99Ms, 1)} | ${f(x.clientCpuMaxPercent, 0)}% | ${x.lost} / ${x.misrouted} / ${x.duplicated} |`);
  }
  lines.push('');
  lines.push('These tiny repeated pings compress to a few bytes with context takeover, so this table shows what compressing');
  lines.push('costs a server per message, not what it saves; 4c measures both on real signaling traffic.', '');

  const s = relay.compressionStudy;
  const real = relay.realistic;
  lines.push('### 4c. Compression, decided with data', '');
  lines.push('Bytes: every frame of one participant joining another (hello, two sealed sender keys and acks, a real Chromium');
  lines.push('offer and answer with audio and video, 11 ICE candidates each way, end-of-candidates), both sockets, both');
  lines.push('directions (`bench/signaling-corpus.mjs`, from `bench/fixtures/chromium-session.json`), deflated as');
  lines.push('permessage-deflate does it. `v1`: peer payloads as JSON text, as today; `v2`: every payload sealed and base64url, as');
  lines.push('under the coming protocol version.', '');
  lines.push('| payloads | frames | bytes | deflate, context takeover | deflate, per message | saved |');
  lines.push('|---|---|---|---|---|---|');
  for (const form of ['v1', 'v2']) {
    const b = s.bytes[form];
    lines.push(`| ${form} | ${b.frames} | ${int(b.raw)} | ${int(b.takeover)} | ${int(b.noTakeover)} | ${f(b.saved * 100, 0)}% (${int(b.raw - b.takeover)} B per join) |`);
  }
  lines.push('');
  lines.push('What it costs, on the same traffic relayed through raw workerd (20 clients, 4 in flight), and in memory:', '');
  lines.push('| | server CPU µs/msg, off | on | extra per message |', '|---|---|---|---|');
  for (const form of ['v1', 'v2']) {
    const off = real[`${form}-off`].serverUsPerMessage;
    const on = real[`${form}-on`].serverUsPerMessage;
    lines.push(`| ${form} payloads | ${f(off)} | ${f(on)} | +${f(on - off)} µs (${f((on / off - 1) * 100, 0)}%) |`);
  }
  lines.push('');
  lines.push(`workerd's resident memory grows by ${int(s.memory.off.bytesPerSocket / 1024)} KB per joined socket without compression and by`);
  lines.push(`${int(s.memory.on.bytesPerSocket / 1024)} KB with it (${s.memory.on.sockets} sockets, 8 per room): about ${int((s.memory.on.bytesPerSocket - s.memory.off.bytesPerSocket) / 1024)} KB of zlib state per socket.`);
  lines.push(`zlib through Node's asynchronous API (thread-pool hops included), compress + decompress: ${f(s.cpu.v1.usPerMessage)} µs per v1 message,`);
  lines.push(`${f(s.cpu.v2.usPerMessage)} µs per v2 message.`, '');
  const savedV1 = s.bytes.v1.raw - s.bytes.v1.takeover;
  const savedV2 = s.bytes.v2.raw - s.bytes.v2.takeover;
  lines.push('**Decision: compression off** (`compatibility_flags = ["no_web_socket_compression"]` in wrangler.toml). A join');
  lines.push(`saves ${int(savedV1 / 1024)} KB with today's payloads and ${int(savedV2 / 1024)} KB with sealed ones, once per call; a 640x480 video stream sends that`);
  lines.push('in a fraction of a second. In return every message costs the Room object more CPU (table above), and every socket');
  lines.push('holds ~0.2 MB of zlib state: the one Presence object is sized for 10,000 sockets, which would be ~2 GB, far over a');
  lines.push('Durable Object\'s 128 MB. Sealed payloads (v2) are random bytes in base64url: deflate only wins back the 6-of-8-bit');
  lines.push('encoding, and the keepalive pings that dominate a call\'s traffic are 21 bytes either way. Compression would also');
  lines.push('mix attacker-chosen text (any room member\'s signals) with other members\' messages in one deflate context, the');
  lines.push('CRIME/BREACH pattern; with the flag that class is gone. Under `wrangler dev` with `[assets]` the assets router in');
  lines.push('front of the worker answers the upgrade with its own flags and compresses the client\'s hop itself; the Room and');
  lines.push('Presence objects never do (`signaling-worker/tests/compression.test.mjs`). signaling-worker/README.md has the same.', '');

  const room = relay.plain.roomCeiling;
  const events = callEvents(CALL);
  const perMsg = us(top, 'workerd');
  const perRoomHourMs = (events.total * perMsg) / 1000;
  const rooms = 10_000;
  const cpuSecondsPerHour = (rooms * perRoomHourMs) / 1000;
  lines.push('### 4d. One room\'s ceiling, and 10,000 rooms on paper', '');
  lines.push(`One Room object with 8 clients (4 pairs, 16 in flight each) relayed ${int(room.messagesPerSecond)} msg/s at ${f(room.serverUsPerMessage)} µs of CPU each, the`);
  lines.push(`server busy ${f(room.serverCpuPercent, 0)}% of the time (the load processes and other work had the rest of the 2 cores). An object runs`);
  lines.push(`on one thread, so its ceiling is one core over the CPU per message: **~${int(room.cpuBoundMessagesPerSecond)} messages/s per room** here.`);
  lines.push('Cloudflare documents a soft limit of about 1,000 requests per second per object; a call needs a few messages per');
  lines.push('second (keepalives) and bursts of a few dozen when someone joins, so one room has headroom of two to three orders');
  lines.push('of magnitude. Rooms are separate objects, spread over Cloudflare\'s machines, so the total grows with the number of');
  lines.push('rooms; PeerServer is one process on one machine and its ceiling is that machine\'s.', '');
  lines.push(`10,000 concurrent rooms: take a ${CALL.participants}-person call for ${CALL.minutes} minutes (keepalive every ${CALL.keepaliveSeconds} s as the client sends it, ~${CALL.messagesPerNegotiation}`);
  lines.push(`messages per pair's negotiation as in 4c, a key rotation with acks on every join and leave): ${int(events.total)} messages per`);
  lines.push(`room-hour (${int(events.keepalives)} keepalives, ${int(events.negotiations)} negotiation, ${int(events.keys)} key, ${events.joins} joins). At the ${f(perMsg)} µs measured`);
  lines.push(`here that is ${f(perRoomHourMs)} ms of CPU per room-hour, **~${int(cpuSecondsPerHour)} CPU-seconds per hour for 10,000 rooms (${f(cpuSecondsPerHour / 3600 * 100, 1)}% of one core`);
  lines.push(`on average)**, spread over however many machines hold the objects. Billing is by requests and wall-clock duration,`);
  lines.push(`not CPU: ${int(events.total * rooms / 1e6 * 10) / 10} M incoming WebSocket messages per hour count as ${f(events.total * rooms / 20 / 1e6, 2)} M requests at the 20:1 ratio, and a room`);
  lines.push('that is only waiting for its next message is eligible for hibernation and not billed for duration. Local figures');
  lines.push('on this 2-core VM are an estimate of Cloudflare\'s, not a measurement of it.', '');

  if (profile) {
    const cols = [['sotto-before-trim', 'Sotto before'], ['sotto', 'Sotto after'], ['js', 'plain JS object']].filter(([k]) => profile[k]);
    lines.push('### 4e. Where a relayed message\'s CPU goes (raw workerd, 200 clients, `perf record -e cpu-clock`)', '');
    lines.push(`µs per message by where the samples fall (\`bench/profile.mjs\`; profiling slows everything, so the totals are above 4a's).`, '');
    lines.push(`| | ${cols.map(([, l]) => l).join(' | ')} |`);
    lines.push(`|---|${cols.map(() => '---').join('|')}|`);
    const cats = Object.keys(profile[cols[0][0]].categories);
    const cell = (k, c) => f((profile[k].categories[c] ?? 0) * profile[k].usPerMessageUnderPerf / 100, 1);
    for (const c of cats) lines.push(`| ${c} | ${cols.map(([k]) => cell(k, c)).join(' | ')} |`);
    lines.push(`| **total** | ${cols.map(([k]) => `**${f(profile[k].usPerMessageUnderPerf, 1)}**`).join(' | ')} |`, '');
    lines.push('What the trimming removed: the future and promise workers-rs creates for every WebSocket event (and the');
    lines.push('runtime\'s wait on it: V8 handles, microtasks, kj promise nodes), `getTags` and two `new Date()` per message, the');
    lines.push('three-pass parse and `serde_json::to_string` (the fast path scans once and writes the relayed text directly), and a');
    lines.push('linear peer lookup. Sotto\'s own Rust and the wasm-bindgen glue are now ~1 µs of a message; the rest is the runtime,');
    lines.push('the same for the plain JavaScript object: the kernel\'s TCP, V8, and workerd\'s hibernation and WebSocket path.', '');
  }

  const w = workerAt(top);
  lines.push('### 4f. Tail latency', '');
  const tail = (k) => at(top)?.[k];
  const shape = (k) => f(tail(k)?.p99Ms / tail(k)?.p50Ms, 1);
  lines.push(`At ${top} clients, one in flight each: p99 ${f(w?.p99Ms, 2)} ms for Sotto on raw workerd, ${f(tail('js')?.p99Ms, 2)} ms for the plain JavaScript object,`);
  lines.push(`${f(tail('wrangler')?.p99Ms, 2)} ms on \`wrangler dev\` and ${f(tail('peerserver')?.p99Ms, 2)} ms for PeerServer (p50 ${f(w?.p50Ms, 2)} / ${f(tail('js')?.p50Ms, 2)} / ${f(tail('wrangler')?.p50Ms, 2)} / ${f(tail('peerserver')?.p50Ms, 2)} ms).`);
  lines.push(`${top} clients with a ping each in flight keep the server saturated, so even the median is queueing: every round trip waits`);
  lines.push('behind the others\' relays, which is why it scales with the CPU per message. The tail beyond it has the same shape on');
  lines.push(`every server (p99/p50: Sotto ${shape('workerd')}, plain JavaScript object ${shape('js')}, PeerServer ${shape('peerserver')}): local workerd's hibernatable`);
  lines.push('WebSocket path starves under this load for the plain JavaScript object too. Reported, not chased beyond the runtime.', '');
  return lines;
}

/** The relay's line in "Targets missed" (only when one is). */
export function relayMisses(relay) {
  const rows = relay?.plain?.rows;
  if (!rows) return [];
  const worst = Math.max(...rows.map((x) => x.targets.workerd.serverUsPerMessage));
  const ratio = Math.max(...rows.map((x) => x.workerdOverJsMedian ?? x.targets.workerd.serverUsPerMessage / x.targets.js.serverUsPerMessage));
  if (worst <= TARGET_US && ratio <= TARGET_RATIO_TO_JS) return [];
  return [
    `- **Signaling relay**: ${f(worst)} µs of server CPU per message on raw workerd at worst (target ≤ ${TARGET_US}), ${f(ratio, 2)}x the plain`,
    '  JavaScript Durable Object (target ≤ 1.35x). See 4e for where the time goes.',
  ];
}
