// Sotto's crypto worker: holds every key of the call inside WebAssembly and runs the
// per-frame SFrame transforms (RTCRtpScriptTransform, or transferred insertable streams).
// The page talks to it only through the small RPC below (the call core's key operations
// arrive as `run` requests); no key ever leaves this worker.
// Blocks between `// #if testing` and `// #endif` exist only in the test build (the e2e
// suite's); scripts/package-client.sh removes them from the production package, whose wasm
// is built without the `testing` cargo feature and so has no key export at all.
import initWasm, { CallCrypto } from './sotto_client_wasm.js';

// The glue finds the .wasm beside itself (a URL bundlers such as Vite rewrite).
const wasmReady = initWasm();
/** @type {CallCrypto | null} */
let crypto = null;
let expiryTimer = null;

// Frames seen by the transforms, per role and media kind; the wasm counts the crypto outcomes.
const frameCounts = {
  encrypt: { audio: 0, video: 0 },
  decrypt: { audio: 0, video: 0 },
  droppedBeforeKeys: 0,
  // of those, frames whose AEAD ran on WebCrypto (the rest ran in the wasm)
  platform: { encrypt: 0, decrypt: 0 },
};
const lastError = { encrypt: null, decrypt: null };
// Frames seen by each transform (by the id the page gave it), counted as they enter, whatever
// then happens to them: the page compares them with what the browser says it sent.
const transformCounts = new Map();

const operations = {
  async init({ secret, peerId }) {
    await wasmReady;
    crypto?.free();
    crypto = new CallCrypto(secret, peerId);
    clearInterval(expiryTimer);
    expiryTimer = setInterval(() => {
      crypto?.expire(performance.now());
      forgetErasedKeys();
    }, 500);
    // The sealed identity (protocol v2) is made once: the page announces it for the whole call.
    return { roomId: crypto.roomId, identity: crypto.identity, sealedIdentity: crypto.sealedIdentity() };
  },
  // Every key operation of the call core (a sotto_call CryptoRequest; the answer is the JSON
  // of its CryptoResult, which the page hands back to the core as is).
  // Every peer payload is sealed and opened here too (protocol v2's envelopes), and the safety
  // code's commit-then-reveal rounds run here.
  run(request) {
    return requireCrypto().run(JSON.stringify(request), performance.now());
  },
  transformCounts({ ids }) {
    return Object.fromEntries(ids.map((id) => [id, transformCounts.get(id) ?? 0]));
  },
  stats() {
    return { crypto: crypto ? JSON.parse(crypto.stats()) : null, frames: frameCounts, lastError };
  },
  close() {
    clearInterval(expiryTimer);
    crypto?.free();
    crypto = null;
    return true;
  },
  // Fallback for browsers without RTCRtpScriptTransform: the page transfers the streams.
  stream({ options, readable, writable }) {
    runTransform(options, readable, writable);
    return true;
  },
};

// #if testing
// Test-build hooks: they play an attacker on the media path (bit flips, replays), capture
// ciphertext after encryption, export keys and send under a given key, so e2e tests can
// prove what is on the wire and play a former participant.
const attack = { flipEvery: 0, replayEvery: 0, sent: 0, flipped: 0, replayed: 0, history: [] };
const capture = { remaining: 0, frames: [] };
const audioSizes = { remaining: 0, sizes: [] };

Object.assign(operations, {
  exportKeysForTesting() {
    return requireCrypto().exportKeysForTesting();
  },
  testAttack({ flipEvery = 0, replayEvery = 0 }) {
    Object.assign(attack, { flipEvery, replayEvery });
    return { ...attack, history: undefined };
  },
  testAttackStats() {
    return { ...attack, history: undefined };
  },
  testCapture({ count }) {
    capture.remaining = count;
    capture.frames = [];
    return true;
  },
  testDecryptWith({ keys, from, frames }) {
    return requireCrypto().testDecryptWith(keys, from, frames);
  },
  installSenderKeyForTesting({ key, epoch }) {
    return requireCrypto().installSenderKeyForTesting(key, epoch);
  },
  testCaptured() {
    return capture.frames;
  },
  // Records the sizes of the next `count` audio frames the encrypt transforms get (clear
  // Opus, before encryption); without `count`, returns what was recorded.
  testAudioSizes({ count } = {}) {
    if (count) Object.assign(audioSizes, { remaining: count, sizes: [] });
    return audioSizes.sizes;
  },
});

// Runs on every frame an encrypt transform gets, before encryption.
function testOnClear(kind, data) {
  if (kind === 'audio' && audioSizes.remaining > 0) {
    audioSizes.remaining -= 1;
    audioSizes.sizes.push(data.length);
  }
}

// Runs on every encrypted frame before it leaves: capture, then the attacker.
function testOnEncrypted(kind, mime, data) {
  if (capture.remaining > 0 && kind === 'video') {
    capture.remaining -= 1;
    capture.frames.push({ mime, data: data.slice() });
  }
  return attackOutgoing(kind, data);
}

// Flips a bit in every n-th video frame and replaces every m-th with an earlier frame's bytes
// (a replay of an old SFrame counter).
function attackOutgoing(kind, data) {
  if (kind !== 'video') return data;
  attack.sent += 1;
  attack.history.push(data.slice());
  if (attack.history.length > 30) attack.history.shift();
  if (attack.flipEvery && attack.sent % attack.flipEvery === 0) {
    attack.flipped += 1;
    const out = data.slice();
    out[out.length >> 1] ^= 0x10;
    return out;
  }
  if (attack.replayEvery && attack.sent % attack.replayEvery === 0 && attack.history.length > 10) {
    attack.replayed += 1;
    return attack.history[0].slice();
  }
  return data;
}
// #endif

// The frame path (client-wasm/src/frames.rs). A frame is written once into a buffer the wasm
// keeps (no allocation per frame), codecs and peers are small numbers, results come back in
// registers (a Uint32Array over wasm memory). Video frames from platformMinLen() bytes are
// sealed and opened by WebCrypto's AES-GCM (the CPU's AES instructions): the wasm computes the
// counter, SFrame header, nonce and AAD and keeps the replay window (sealBegin, openBegin,
// openEnd); each frame key's AES-GCM key is handed out once and imported here as a
// non-extractable CryptoKey, wiped from wasm memory at once, and forgotten when the wasm
// erases the key. Smaller frames and audio (AES-CTR + HMAC, 8-byte tag) stay in the wasm.
const REGS = 10;
const HEAD = 32;
const subtle = globalThis.crypto.subtle;
let frameIo = null;

function frameIoOf(c, memory) {
  if (frameIo?.crypto === c) return frameIo;
  const io = { crypto: c, memory, mem: null, regs: null, keys: new Map(), ready: new Map(), codecs: new Map(), slots: new Map(), minLen: c.platformMinLen() };
  io.views = () => {
    if (io.mem?.buffer !== memory.buffer) {
      io.mem = new Uint8Array(memory.buffer);
      io.regs = new Uint32Array(memory.buffer, c.frameRegisters(), REGS);
    }
  };
  frameIo = io;
  return io;
}

function codecOf(io, mime) {
  let codec = io.codecs.get(mime);
  if (codec === undefined) io.codecs.set(mime, (codec = io.crypto.codecOf(mime)));
  return codec;
}

function slotOf(io, peer) {
  let slot = io.slots.get(peer);
  if (slot === undefined) io.slots.set(peer, (slot = io.crypto.peerSlot(peer)));
  return slot;
}

function frameError(io, status) {
  const error = new Error('frame refused');
  error.code = io.crypto.frameErrorCode(status);
  return error;
}

function put(io, data, n) {
  const ptr = io.crypto.inputBuffer(n);
  io.views();
  io.mem.set(n === data.length ? data : data.subarray(0, n), ptr);
}

function readOutput(io) {
  io.views();
  return io.mem.slice(io.regs[0], io.regs[0] + io.regs[1]);
}

// The job sealBegin/openBegin left in the registers, copied out before any await (another
// transform may start a job meanwhile).
function job(io) {
  io.views();
  const [, , at, handle, prefix, aadLen, headerLen, bodyStart, hi, lo] = io.regs;
  return { handle, prefix, headerLen, bodyStart, hi, lo, nonce: io.mem.slice(at, at + 12), aad: io.mem.slice(at + 16, at + 16 + aadLen) };
}

// The CryptoKey of a frame key (the import promise is kept at once, so that concurrent frames
// share one import: the wasm hands each key out only once).
function platformKey(io, handle) {
  let key = io.keys.get(handle);
  if (key) return key;
  if (io.crypto.platformKey(handle) !== 0) return Promise.reject(new Error('no platform key'));
  io.views();
  const at = io.regs[2] + 48;
  const raw = io.mem.slice(at, at + 16);
  io.crypto.clearPlatformKey();
  key = subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
  raw.fill(0); // importKey copied the bytes before returning
  key.then((k) => io.ready.set(handle, k), () => io.keys.delete(handle));
  io.keys.set(handle, key);
  return key;
}

function forgetErasedKeys() {
  if (!frameIo || frameIo.crypto !== crypto || frameIo.keys.size === 0) return;
  const live = new Set(crypto.platformKeyHandles());
  for (const handle of frameIo.keys.keys()) {
    if (!live.has(handle)) {
      frameIo.keys.delete(handle);
      frameIo.ready.delete(handle);
    }
  }
}

async function sealFrame(io, codec, data) {
  const c = io.crypto;
  if (data.length >= io.minLen) {
    put(io, data, HEAD);
    const status = c.sealBegin(codec, data.length);
    if (status < 0) throw frameError(io, status);
    if (status === 0) {
      const j = job(io);
      const key = io.ready.get(j.handle) ?? await platformKey(io, j.handle);
      const ct = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: j.nonce, additionalData: j.aad }, key, data.subarray(j.prefix)));
      frameCounts.platform.encrypt += 1;
      const out = new Uint8Array(j.prefix + j.headerLen + ct.length);
      out.set(data.subarray(0, j.prefix), 0);
      out.set(j.aad.subarray(0, j.headerLen), j.prefix);
      out.set(ct, j.prefix + j.headerLen);
      return out;
    }
  }
  put(io, data, data.length);
  const status = c.encryptFrameIn(codec, data.length);
  if (status < 0) throw frameError(io, status);
  return readOutput(io);
}

async function openFrame(io, codec, slot, data) {
  const c = io.crypto;
  if (data.length >= io.minLen) {
    put(io, data, HEAD);
    const status = c.openBegin(slot, codec, data.length, performance.now());
    if (status < 0) throw frameError(io, status);
    if (status === 0) {
      const j = job(io);
      let plain = null;
      try {
        const key = io.ready.get(j.handle) ?? await platformKey(io, j.handle);
        plain = new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: j.nonce, additionalData: j.aad }, key, data.subarray(j.bodyStart)));
      } catch {
        plain = null; // refused by WebCrypto (or no key): settled as not authentic
      }
      // The wasm decides: counted, recorded in the replay window, or refused (a copy that
      // authenticated meanwhile, a key erased meanwhile, a failed tag).
      const end = c.openEnd(slot, j.handle, j.hi, j.lo, plain !== null);
      if (end < 0) {
        plain?.fill(0);
        throw frameError(io, end);
      }
      frameCounts.platform.decrypt += 1;
      const out = new Uint8Array(j.prefix + plain.length);
      out.set(data.subarray(0, j.prefix), 0);
      out.set(plain, j.prefix);
      plain.fill(0);
      return out;
    }
  }
  put(io, data, data.length);
  const status = c.decryptFrameIn(slot, codec, data.length, performance.now());
  if (status < 0) throw frameError(io, status);
  return readOutput(io);
}

function requireCrypto() {
  if (!crypto) {
    const error = new Error('the crypto worker has not been initialised');
    error.code = 'not-initialised';
    throw error;
  }
  return crypto;
}

self.onmessage = async (event) => {
  const { id, op, args } = event.data ?? {};
  const handler = Object.hasOwn(operations, op) ? operations[op] : null;
  if (!handler) {
    self.postMessage({ id, ok: false, error: { code: 'unknown-operation', message: `unknown operation` } });
    return;
  }
  try {
    const result = await handler(args ?? {});
    self.postMessage({ id, ok: true, result });
  } catch (error) {
    self.postMessage({ id, ok: false, error: { code: error?.code ?? 'internal', message: String(error?.message ?? error) } });
  }
};

// RTCRtpScriptTransform: the page created `new RTCRtpScriptTransform(worker, options)`.
self.onrtctransform = (event) => {
  const { transformer } = event;
  runTransform(transformer.options, transformer.readable, transformer.writable);
};

const defaultMime = { audio: 'audio/opus', video: 'video/VP8' };

function mimeOf(frame, kind) {
  // Chromium and Firefox put the negotiated codec in the frame metadata; older ones do not.
  const mime = typeof frame.getMetadata === 'function' ? frame.getMetadata().mimeType : undefined;
  return mime || defaultMime[kind];
}

function runTransform(options, readable, writable) {
  const { role, peer, kind, id } = options;
  transformCounts.set(id, 0);
  const transform = new TransformStream({
    async transform(frame, controller) {
      transformCounts.set(id, transformCounts.get(id) + 1);
      await wasmReady;
      if (!crypto) {
        // Fail closed: no keys yet means nothing is sent and nothing is played.
        frameCounts.droppedBeforeKeys += 1;
        return;
      }
      frameCounts[role][kind] += 1;
      const mime = mimeOf(frame, kind);
      try {
        const input = new Uint8Array(frame.data);
        // #if testing
        if (role === 'encrypt') testOnClear(kind, input);
        // #endif
        const io = frameIoOf(crypto, (await wasmReady).memory);
        const codec = codecOf(io, mime);
        let output = role === 'encrypt'
          ? await sealFrame(io, codec, input)
          : await openFrame(io, codec, slotOf(io, peer), input);
        // #if testing
        if (role === 'encrypt') output = testOnEncrypted(kind, mime, output);
        // #endif
        frame.data = output.buffer;
        controller.enqueue(frame);
      } catch (error) {
        // Counted inside the wasm (stats); the frame is dropped, never passed on in clear.
        lastError[role] = error?.code ?? 'internal';
      }
    },
  });
  readable.pipeThrough(transform).pipeTo(writable).catch(() => {});
}
