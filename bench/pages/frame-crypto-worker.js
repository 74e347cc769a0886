// Per-frame encrypt+decrypt inside a Worker, as in production: Sotto's SFrame versus a
// WebCrypto AES-GCM implementation of the LiveKit-style frame format (clear codec header,
// ciphertext, 12-byte IV, trailer with IV length and key index), written here as the baseline.
// Sotto runs four ways: `encryptFrame`/`decryptFrame` (the API the crypto Worker calls today:
// bytes in and out of wasm per call), the register frame path all in wasm (RustCrypto, input
// written once into a kept wasm buffer), the same path with the AEAD on WebCrypto (the wasm
// computes counter, header, nonce, AAD, replay; the key imported once as a non-extractable
// CryptoKey), and the hybrid that picks one of the two by frame size (platformMinLen): the
// transform path, compared with the baseline.
import init, { CallCrypto, generateRoomSecret } from '/pkg/sotto_client_wasm.js';

const SIZES = [100, 1_000, 10_000, 100_000];
const MIME = 'video/VP8';
const VP8_DELTA_HEADER = 3;

let wasm;

async function setUpSotto() {
  wasm = await init({ module_or_path: '/pkg/sotto_client_wasm_bg.wasm' });
  const secret = generateRoomSecret();
  const alice = new CallCrypto(secret, 'alice');
  const bob = new CallCrypto(secret, 'bob');
  // The call core's key requests, as the crypto worker gets them (sotto_call::CryptoRequest).
  const run = (party, request) => JSON.parse(party.run(JSON.stringify(request), 0));
  const { roster: { epoch, messages: [toBob] } } = run(alice, { 'set-roster': { roster: [{ peer: 'bob', identity: bob.sealedIdentity() }] } });
  run(bob, { 'set-roster': { roster: [{ peer: 'alice', identity: alice.sealedIdentity() }] } });
  run(bob, { 'receive-key': { from: 'alice', key: toBob.key } });
  run(alice, { acknowledge: { from: 'bob', epoch } });
  run(alice, { commit: { epoch } });
  const roundTrip = (frame) => {
    const sealed = alice.encryptFrame(MIME, frame);
    const opened = bob.decryptFrame('alice', MIME, sealed, 0);
    if (opened.length !== frame.length) throw new Error('sotto round trip changed the frame');
    return sealed.length - frame.length;
  };
  const opus = new Uint8Array(100).fill(0x42);
  // Audio overhead as a call goes on: the header holds the counter in minimal bytes, so it is
  // measured after 0, 8, 256 and 65,536 audio frames (1.3 s of 50 frames/s takes 22 min).
  const byCounter = [];
  let sent = 0;
  for (const [from, at] of [[0, 'the first 8 frames'], [8, 'to 5 s'], [256, '5 s to 21.8 min'], [65_536, '21.8 min to 93 h']]) {
    for (; sent < from; sent += 1) alice.encryptFrame('audio/opus', opus);
    byCounter.push({ from, at, bytes: alice.encryptFrame('audio/opus', opus).length - opus.length });
    sent += 1;
  }
  roundTrip.audioOverheadByCounter = byCounter;
  // the figure for most of a call (5 s to 21.8 min)
  roundTrip.audioOverheadBytes = () => byCounter[2].bytes;
  roundTrip.paths = framePaths(alice, bob);
  return roundTrip;
}

// The register frame path (client-wasm/src/frames.rs), as the crypto Worker's transform would
// drive it.
function framePaths(alice, bob) {
  const REGS = 10;
  const HEAD = 32;
  const codec = alice.codecOf(MIME);
  const slot = bob.peerSlot('alice');
  const minLen = alice.platformMinLen();
  const io = (party) => {
    let mem = null;
    let regs = null;
    const views = () => {
      if (!mem || mem.buffer !== wasm.memory.buffer || mem.byteLength === 0) {
        mem = new Uint8Array(wasm.memory.buffer);
        regs = new Uint32Array(wasm.memory.buffer, party.frameRegisters(), REGS);
      }
    };
    const put = (frame, n) => {
      const ptr = party.inputBuffer(frame.length);
      views();
      mem.set(n === frame.length ? frame : frame.subarray(0, n), ptr);
    };
    const keys = new Map();
    // as the crypto Worker does: a key already imported is used without an await
    const keyFor = async (handle) => {
      let key;
      if (party.platformKey(handle) !== 0) throw new Error('no platform key');
      views();
      const at = regs[2] + 48;
      const raw = mem.slice(at, at + 16);
      party.clearPlatformKey();
      key = await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
      raw.fill(0);
      keys.set(handle, key);
      return key;
    };
    const output = () => { views(); return mem.slice(regs[0], regs[0] + regs[1]); };
    const job = () => {
      views();
      const [, , at, handle, prefix, aadLen, headerLen, bodyStart, hi, lo] = regs;
      return { handle, prefix, headerLen, bodyStart, hi, lo, nonce: mem.slice(at, at + 12), aad: mem.slice(at + 16, at + 16 + aadLen) };
    };
    return { put, output, job, keys, keyFor };
  };
  const a = io(alice);
  const b = io(bob);
  const fail = (who, status) => { throw new Error(`${who}: ${alice.frameErrorCode(status)}`); };
  const sealWasm = (frame) => {
    a.put(frame, frame.length);
    const st = alice.encryptFrameIn(codec, frame.length);
    if (st !== 0) fail('encrypt', st);
    return a.output();
  };
  const openWasm = (sealed) => {
    b.put(sealed, sealed.length);
    const st = bob.decryptFrameIn(slot, codec, sealed.length, 0);
    if (st !== 0) fail('decrypt', st);
    return b.output();
  };
  const sealPlatform = async (frame) => {
    a.put(frame, Math.min(HEAD, frame.length));
    const st = alice.sealBegin(codec, frame.length);
    if (st === 1) return sealWasm(frame);
    if (st !== 0) fail('sealBegin', st);
    const j = a.job();
    const key = a.keys.get(j.handle) ?? await a.keyFor(j.handle);
    const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: j.nonce, additionalData: j.aad }, key, frame.subarray(j.prefix)));
    const out = new Uint8Array(j.prefix + j.headerLen + ct.length);
    out.set(frame.subarray(0, j.prefix), 0);
    out.set(j.aad.subarray(0, j.headerLen), j.prefix);
    out.set(ct, j.prefix + j.headerLen);
    return out;
  };
  const openPlatform = async (sealed) => {
    b.put(sealed, Math.min(HEAD, sealed.length));
    const st = bob.openBegin(slot, codec, sealed.length, 0);
    if (st === 1) return openWasm(sealed);
    if (st !== 0) fail('openBegin', st);
    const j = b.job();
    const key = b.keys.get(j.handle) ?? await b.keyFor(j.handle);
    let plain = null;
    try {
      plain = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: j.nonce, additionalData: j.aad }, key, sealed.subarray(j.bodyStart)));
    } catch { /* refused: settled below as unauthentic */ }
    const end = bob.openEnd(slot, j.handle, j.hi, j.lo, plain !== null);
    if (end !== 0) fail('openEnd', end);
    const out = new Uint8Array(j.prefix + plain.length);
    out.set(sealed.subarray(0, j.prefix), 0);
    out.set(plain, j.prefix);
    return out;
  };
  const check = (frame, opened) => {
    if (opened.length !== frame.length || opened[opened.length - 1] !== frame[frame.length - 1]) throw new Error('round trip changed the frame');
  };
  return {
    minLen,
    wasmOnly: (frame) => { const s = sealWasm(frame); check(frame, openWasm(s)); return s.length - frame.length; },
    platformOnly: async (frame) => { const s = await sealPlatform(frame); check(frame, await openPlatform(s)); return s.length - frame.length; },
    hybrid: async (frame) => {
      if (frame.length < minLen) { const s = sealWasm(frame); check(frame, openWasm(s)); return s.length - frame.length; }
      const s = await sealPlatform(frame);
      check(frame, await openPlatform(s));
      return s.length - frame.length;
    },
  };
}

async function setUpBaseline() {
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 128 }, false, ['encrypt', 'decrypt']);
  const ssrc = 0x1234_5678;
  let counter = 0;
  return async (frame) => {
    // LiveKit-style IV: SSRC, RTP timestamp, and a per-sender count, 12 bytes.
    const iv = new Uint8Array(12);
    const view = new DataView(iv.buffer);
    view.setUint32(0, ssrc);
    view.setUint32(4, counter * 3000);
    view.setUint32(8, counter);
    counter += 1;
    const header = frame.subarray(0, VP8_DELTA_HEADER);
    const ciphertext = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: header }, key, frame.subarray(VP8_DELTA_HEADER)));
    const sealed = new Uint8Array(header.length + ciphertext.length + iv.length + 2);
    sealed.set(header, 0);
    sealed.set(ciphertext, header.length);
    sealed.set(iv, header.length + ciphertext.length);
    sealed[sealed.length - 2] = 12; // IV length
    sealed[sealed.length - 1] = 0; // key index
    // Receiver: parse the trailer and decrypt.
    const ivLength = sealed[sealed.length - 2];
    const ivStart = sealed.length - 2 - ivLength;
    const openedBody = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: sealed.subarray(ivStart, ivStart + ivLength), additionalData: sealed.subarray(0, VP8_DELTA_HEADER) },
      key, sealed.subarray(VP8_DELTA_HEADER, ivStart));
    if (openedBody.byteLength + VP8_DELTA_HEADER !== frame.length) throw new Error('baseline round trip changed the frame');
    return sealed.length - frame.length;
  };
}

function frameOf(size) {
  const frame = new Uint8Array(size);
  for (let i = 0; i < size; i += 65_536) crypto.getRandomValues(frame.subarray(i, Math.min(size, i + 65_536)));
  frame[0] |= 0x01; // VP8 payload header: P bit set = delta frame (3 clear bytes)
  return frame;
}

async function timeBatch(fn, frame, count) {
  const started = performance.now();
  for (let i = 0; i < count; i += 1) await fn(frame);
  return ((performance.now() - started) * 1000) / count; // µs per frame
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

self.onmessage = async (event) => {
  try {
    const rounds = Number(event.data.rounds ?? 7);
    const sotto = await setUpSotto();
    const baseline = await setUpBaseline();
    const results = [];
    for (const size of SIZES) {
      const frame = frameOf(size);
      const count = Math.max(20, Math.round(400_000 / (size + 2000)));
      const paths = sotto.paths;
      const variants = { current: sotto, wasmOnly: paths.wasmOnly, platformOnly: paths.platformOnly, hybrid: paths.hybrid, baseline };
      for (const fn of Object.values(variants)) await timeBatch(fn, frame, count); // warm up all
      const times = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
      for (let r = 0; r < rounds; r += 1) { // alternate, so drift hits all alike
        for (const [k, fn] of Object.entries(variants)) times[k].push(await timeBatch(fn, frame, count));
      }
      const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
      results.push({
        size, framesPerRound: count, rounds,
        // the transform path: the hybrid (wasm below platformMinLen, WebCrypto from it)
        sottoUs: m.hybrid, baselineUs: m.baseline, ratio: m.hybrid / m.baseline,
        currentApiUs: m.current, wasmOnlyUs: m.wasmOnly, platformOnlyUs: m.platformOnly,
        platformMinLen: paths.minLen,
        sottoMBps: size / m.hybrid, baselineMBps: size / m.baseline,
        sottoOverheadBytes: await paths.hybrid(frame), baselineOverheadBytes: await baseline(frame),
      });
    }
    self.postMessage({
      results,
      audioOverheadBytes: sotto.audioOverheadBytes(),
      audioOverheadByCounter: sotto.audioOverheadByCounter,
      audioTagBytes: 8,
      opusFrameBytes: 100,
      videoOverheadBytes: results[0].sottoOverheadBytes,
    });
  } catch (error) {
    self.postMessage({ error: String(error?.stack ?? error) });
  }
};
