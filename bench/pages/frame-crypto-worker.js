// Per-frame encrypt+decrypt inside a Worker, as in production: Sotto's wasm SFrame versus a
// WebCrypto AES-GCM implementation of the LiveKit-style frame format (clear codec header,
// ciphertext, 12-byte IV, trailer with IV length and key index), written here as the baseline.
import init, { CallCrypto, generateRoomSecret } from '/pkg/sotto_client_wasm.js';

const SIZES = [100, 1_000, 10_000, 100_000];
const MIME = 'video/VP8';
const VP8_DELTA_HEADER = 3;

async function setUpSotto() {
  await init({ module_or_path: '/pkg/sotto_client_wasm_bg.wasm' });
  const secret = generateRoomSecret();
  const alice = new CallCrypto(secret, 'alice');
  const bob = new CallCrypto(secret, 'bob');
  // The call core's key requests, as the crypto worker gets them (sotto_call::CryptoRequest).
  const run = (party, request) => JSON.parse(party.run(JSON.stringify(request), 0));
  const { roster: { epoch, messages: [toBob] } } = run(alice, { 'set-roster': { roster: [{ peer: 'bob', identity: bob.identity }] } });
  run(bob, { 'set-roster': { roster: [{ peer: 'alice', identity: alice.identity }] } });
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
  roundTrip.audioOverheadBytes = () => alice.encryptFrame('audio/opus', opus).length - opus.length;
  return roundTrip;
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
      await timeBatch(sotto, frame, count); // warm up both
      await timeBatch(baseline, frame, count);
      const s = [];
      const b = [];
      for (let r = 0; r < rounds; r += 1) { // alternate, so drift hits both alike
        s.push(await timeBatch(sotto, frame, count));
        b.push(await timeBatch(baseline, frame, count));
      }
      const sottoUs = median(s);
      const baselineUs = median(b);
      results.push({
        size, framesPerRound: count, rounds,
        sottoUs, baselineUs, ratio: sottoUs / baselineUs,
        sottoMBps: size / sottoUs, baselineMBps: size / baselineUs,
        sottoOverheadBytes: sotto(frame), baselineOverheadBytes: await baseline(frame),
      });
    }
    self.postMessage({ results, audioOverheadBytes: sotto.audioOverheadBytes(), videoOverheadBytes: results[0].sottoOverheadBytes });
  } catch (error) {
    self.postMessage({ error: String(error?.stack ?? error) });
  }
};
