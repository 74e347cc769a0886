// Where call setup's time goes (issue 13 item 7), for bench/setup-versions.mjs --breakdown.
//
// INSTRUMENT runs in both pages of a call before any page script (a Playwright init script),
// whatever the client version: it wraps WebSocket, Worker, RTCPeerConnection and fetch and
// logs what happens with wall-clock times (performance.timeOrigin + now, so A's and B's logs
// share one clock). The client code is not touched, so v1 and v2 are observed alike.
// milestones() turns A's and B's logs into times from B asking for the camera (t0); the
// signals' kinds are read from the clear payloads (v1) or looked up in each sender's log of
// what it sealed (v2 test build: call.testSealedLog()).

export const INSTRUMENT = () => {
  const log = [];
  window.__setupLog = log;
  const mark = (what, extra) => { log.push({ t: performance.timeOrigin + performance.now(), what, ...extra }); };
  window.__mark = mark;
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...args) {
      super(...args);
      mark('ws-created');
      this.addEventListener('open', () => mark('ws-open'));
      this.addEventListener('message', ({ data }) => mark('ws-in', { text: String(data) }));
    }
    send(text) { mark('ws-out', { text: String(text) }); return super.send(text); }
  };
  const W = window.Worker;
  window.Worker = class extends W {
    constructor(...args) {
      super(...args);
      mark('worker-created');
      this.addEventListener('message', ({ data }) => { if (data && data.id !== undefined) mark('rpc-done', { id: data.id }); });
    }
    postMessage(message, transfer) {
      if (message && message.op) {
        const op = message.op === 'run' && message.args && typeof message.args === 'object' ? Object.keys(message.args)[0] : message.op;
        mark('rpc', { id: message.id, op });
      }
      return super.postMessage(message, transfer);
    }
  };
  // Every 5 ms while a connection exists: the first time of each video counter (A encodes and
  // sends, B receives, asks for a key frame, decodes), and A's key frames until B decodes.
  const pcs = [];
  const seen = new Set();
  let polling = false;
  const poll = async () => {
    polling = true;
    const start = performance.now();
    while (performance.now() - start < 20_000 && pcs.some((pc) => pc.connectionState !== 'closed')) {
      for (const pc of pcs) {
        let report;
        try { report = await pc.getStats(); } catch { continue; }
        for (const s of report.values()) {
          if (s.kind !== 'video') continue;
          const counters = s.type === 'outbound-rtp' ? ['framesEncoded', 'packetsSent', 'pliCount', 'firCount']
            : s.type === 'inbound-rtp' ? ['packetsReceived', 'framesReceived', 'framesDecoded', 'pliCount', 'firCount', 'keyFramesDecoded'] : [];
          for (const c of counters) {
            const key = `${s.type}.${c}`;
            if (!seen.has(key) && s[c] > 0) { seen.add(key); mark(key); }
          }
          if (s.type === 'outbound-rtp') window.__keyFramesEncoded = s.keyFramesEncoded;
        }
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const PC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends PC {
    constructor(...args) {
      super(...args);
      mark('pc-created');
      pcs.push(this);
      if (!polling) poll();
      this.addEventListener('icecandidate', ({ candidate }) => mark('local-candidate', { type: candidate?.type ?? 'end' }));
      this.addEventListener('icegatheringstatechange', () => mark(`gathering-${this.iceGatheringState}`));
      this.addEventListener('iceconnectionstatechange', () => mark(`ice-${this.iceConnectionState}`));
      this.addEventListener('connectionstatechange', () => mark(`pc-${this.connectionState}`));
    }
    async createOffer(...args) { const d = await super.createOffer(...args); mark('offer-created'); return d; }
    async createAnswer(...args) { const d = await super.createAnswer(...args); mark('answer-created'); return d; }
    async setLocalDescription(d) { mark(`set-local-${d?.type}`); const r = await super.setLocalDescription(d); mark(`local-set-${d?.type}`); return r; }
    async setRemoteDescription(d) { mark(`set-remote-${d?.type}`); const r = await super.setRemoteDescription(d); mark(`remote-set-${d?.type}`); return r; }
    addIceCandidate(c) { mark('add-candidate'); return super.addIceCandidate(c); }
  };
  const f = window.fetch;
  window.fetch = async (input, init) => {
    const url = String(input?.url ?? input);
    mark('fetch', { url });
    try {
      const response = await f(input, init);
      mark('fetch-done', { url, status: response.status });
      return response;
    } catch (error) {
      mark('fetch-done', { url, status: 0 });
      throw error;
    }
  };
};

// The kind of a signal: its clear payload's type (v1), or what its sender sealed (v2).
function signalKind(text, sealedTypes) {
  let msg;
  try { msg = JSON.parse(text); } catch { return null; }
  if (msg.type !== 'signal') return msg.type;
  try {
    const inner = JSON.parse(msg.payload);
    if (inner && typeof inner.type === 'string') return `signal:${inner.type}`;
  } catch { /* sealed */ }
  return `signal:${sealedTypes.get(msg.payload) ?? 'sealed-key'}`; // keys are sealed by setRoster, not seal
}

// Times (ms from B asking for the camera) of the steps of one call, from A's and B's logs.
// `end`: B's first decoded frame; `received`: B's first frame received (before decryption).
export function milestones({ a, b, sealedA = [], sealedB = [], t0, received, end, keyFramesA }) {
  const types = new Map([...sealedA, ...sealedB].map((e) => [e.envelope, e.type]));
  const rel = (e) => (e ? e.t - t0 : NaN);
  const first = (log, pred) => rel(log.find((e) => e.t >= t0 && pred(e)));
  const kind = (e) => (e.what === 'ws-in' || e.what === 'ws-out' ? signalKind(e.text, types) : null);
  const rpcs = (log) => {
    const done = new Map(log.filter((e) => e.what === 'rpc-done').map((e) => [e.id, e.t]));
    return log.filter((e) => e.what === 'rpc' && e.t >= t0 && e.t <= t0 + end).map((e) => ({ op: e.op, at: e.t - t0, ms: (done.get(e.id) ?? NaN) - e.t }));
  };
  const rpcB = rpcs(b);
  const rpcA = rpcs(a);
  const initB = rpcB.find((r) => r.op === 'init');
  const m = {
    'B camera (getUserMedia)': first(b, (e) => e.what === 'gum-done'),
    'B crypto worker init (wasm, identity)': initB ? initB.at + initB.ms : NaN,
    'B TURN credentials answered': first(b, (e) => e.what === 'fetch-done' && /turn-credentials/.test(e.url)),
    'B socket open': first(b, (e) => e.what === 'ws-open'),
    'B welcome': first(b, (e) => kind(e) === 'welcome'),
    'B joinCall resolved': first(b, (e) => e.what === 'joined'),
    'A hears peer-joined': first(a, (e) => kind(e) === 'peer-joined'),
    'B peer connection made': first(b, (e) => e.what === 'pc-created'),
    'B offer created': first(b, (e) => e.what === 'offer-created'),
    'B offer set locally': first(b, (e) => e.what === 'local-set-offer'),
    'B offer sent': first(b, (e) => kind(e) === 'signal:offer'),
    'A offer received': first(a, (e) => e.what === 'ws-in' && kind(e) === 'signal:offer'),
    'A offer applied (opened)': first(a, (e) => e.what === 'set-remote-offer'),
    'A answer created': first(a, (e) => e.what === 'answer-created'),
    'A answer sent': first(a, (e) => e.what === 'ws-out' && kind(e) === 'signal:answer'),
    'B answer received': first(b, (e) => e.what === 'ws-in' && kind(e) === 'signal:answer'),
    'B answer applied (opened)': first(b, (e) => e.what === 'set-remote-answer'),
    'B first remote candidate added': first(b, (e) => e.what === 'add-candidate'),
    'B ICE connected': first(b, (e) => e.what === 'ice-connected'),
    'B connected (DTLS)': first(b, (e) => e.what === 'pc-connected'),
    'A connected (DTLS)': first(a, (e) => e.what === 'pc-connected'),
    'A first video frame encoded': first(a, (e) => e.what === 'outbound-rtp.framesEncoded'),
    'A first video packet sent': first(a, (e) => e.what === 'outbound-rtp.packetsSent'),
    "A's key for B committed (commit)": (() => { const c = rpcA.find((r) => r.op === 'commit'); return c ? c.at + c.ms : NaN; })(),
    "B has A's key (receive-key done)": (() => { const c = rpcB.find((r) => r.op === 'receive-key'); return c ? c.at + c.ms : NaN; })(),
    'B first video packet received': first(b, (e) => e.what === 'inbound-rtp.packetsReceived'),
    'B asks for a key frame (PLI)': first(b, (e) => e.what === 'inbound-rtp.pliCount' || e.what === 'inbound-rtp.firCount'),
    'A hears the PLI': first(a, (e) => e.what === 'outbound-rtp.pliCount' || e.what === 'outbound-rtp.firCount'),
    'B first frame decoded (poller)': first(b, (e) => e.what === 'inbound-rtp.framesDecoded'),
    "B has A's sender key (signal in)": first(b, (e) => e.what === 'ws-in' && /signal:(sender[-_]key|sealed-key)/.test(kind(e) ?? '')),
    'B first frame received': received,
    'B first frame decoded': end,
  };
  const crypto = {
    'B worker round trips before first decode': rpcB.length,
    'B worker round trip ms (median)': median(rpcB.filter((r) => r.op !== 'init').map((r) => r.ms)),
    'A worker round trips before first decode': rpcA.length,
    'A worker round trip ms (median)': median(rpcA.map((r) => r.ms)),
    "A set-roster round trip ms (B's arrival)": rpcA.find((r) => r.op === 'set-roster')?.ms ?? NaN,
    'A set-roster asked (ms from t0)': rpcA.find((r) => r.op === 'set-roster')?.at ?? NaN,
    'B set-roster round trip ms': rpcB.find((r) => r.op === 'set-roster')?.ms ?? NaN,
    'A first seal round trip ms': rpcA.find((r) => r.op === 'seal')?.ms ?? NaN,
    'B open round trip ms (median)': median(rpcB.filter((r) => r.op === 'open').map((r) => r.ms)),
    'key frames A encoded by then': keyFramesA,
    'signals B sent': b.filter((e) => e.what === 'ws-out' && e.t >= t0 && e.t <= t0 + end && kind(e)?.startsWith('signal:')).length,
    'signals A sent': a.filter((e) => e.what === 'ws-out' && e.t >= t0 && e.t <= t0 + end && kind(e)?.startsWith('signal:')).length,
  };
  return { ...m, ...crypto, rpcOps: [...new Set([...rpcB, ...rpcA].map((r) => r.op))].join(' ') };
}

export const median = (xs) => {
  const ok = xs.filter(Number.isFinite).sort((x, y) => x - y);
  return ok.length ? ok[Math.floor(ok.length / 2)] : NaN;
};

// Medians of each step over the calls of each kind: `{ step: { kind: ms } }`.
export function summarise(byKind) {
  const steps = Object.keys(Object.values(byKind).find((l) => l.length)?.[0] ?? {}).filter((s) => s !== 'rpcOps');
  return Object.fromEntries(steps.map((s) => [s, Object.fromEntries(Object.entries(byKind).map(([k, list]) => [k, median(list.map((x) => x[s]))]))]));
}

export function breakdownTable(summary, kinds) {
  const f = (x) => (Number.isFinite(x) ? x.toFixed(0) : '–');
  // (a step that never happened has no median: NaN, written as null in results.json)
  const diff = (v) => (Number.isFinite(v.v2) && Number.isFinite(v.v1) ? (v.v2 - v.v1 >= 0 ? '+' : '') + f(v.v2 - v.v1) : '–');
  const rows = Object.entries(summary).map(([step, v]) => `| ${step} | ${kinds.map((k) => f(v[k])).join(' | ')} |${kinds.includes('v1') && kinds.includes('v2') ? ` ${diff(v)} |` : ''}`);
  return [`| step (ms from B asking for the camera; counts) | ${kinds.join(' | ')} |${kinds.includes('v2') && kinds.includes('v1') ? ' v2 − v1 |' : ''}`,
    `|---|${kinds.map(() => '---|').join('')}${kinds.includes('v2') && kinds.includes('v1') ? '---|' : ''}`, ...rows];
}
