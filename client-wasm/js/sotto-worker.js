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
    expiryTimer = setInterval(() => crypto?.expire(performance.now()), 500);
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
        let output = role === 'encrypt'
          ? crypto.encryptFrame(mime, input)
          : crypto.decryptFrame(peer, mime, input, performance.now());
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
