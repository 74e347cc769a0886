// The walking skeleton's promise, checked in real Chromium against the real local worker:
// two people open the same link, see and hear each other, every frame is SFrame-encrypted in
// the crypto worker, and nothing the server relayed holds a key or the room secret.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from './lib/worker.mjs';
import { startRecordingProxy } from './lib/proxy.mjs';
import { launchChromium, openParticipant, waitInPage } from './lib/browser.mjs';
import { encodings, findAny } from './lib/needles.mjs';
import { cryptoStats, dumpOnFailure, firstRemote, mediaStats, remotePixels } from './lib/probes.mjs';

let worker;
let proxy;
let browser;
const roomRedirects = new Map();

before(async () => {
  worker = await startWorker();
  proxy = await startRecordingProxy({
    upstream: worker.origin,
    rewriteUrl: (url) => roomRedirects.get(url) ?? url,
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await proxy?.stop();
  await worker?.stop();
});

test('two participants get an end-to-end encrypted video call through the local worker', async () => {
  const a = await openParticipant(browser, `${proxy.origin}/`, { label: 'A' });
  const link = a.page.url();
  const secret = new URL(link).hash.slice(1);
  assert.match(secret, /^[A-Za-z0-9_-]{43}$/, 'the page put a fresh room secret in the fragment');
  const b = await openParticipant(browser, link, { label: 'B' });

  await dumpOnFailure([a, b], async () => {
    // Remote video decodes on both sides and keeps decoding.
    for (const p of [a, b]) {
      const stats = await waitInPage(p.page, mediaStats, (s) => firstRemote(s).framesDecoded >= 30, { timeoutMs: 30_000 });
      assert.ok(firstRemote(stats).framesDecoded >= 30, `${p.label} decoded remote frames: ${JSON.stringify(stats)}`);
      assert.ok(firstRemote(stats).audioPacketsReceived > 0, `${p.label} received audio`);
    }

    // Remote pixels are real pictures that change over time.
    for (const p of [a, b]) {
      const first = await p.page.evaluate(remotePixels);
      await p.page.waitForTimeout(400);
      const second = await p.page.evaluate(remotePixels);
      assert.ok(first && second, `${p.label} has a remote video element with a size`);
      assert.ok(first.stddev > 5, `${p.label} remote picture has texture (stddev ${first.stddev})`);
      assert.notEqual(first.hash, second.hash, `${p.label} remote picture changes`);
    }

    // Every frame went through the wasm transform: counters track the browser's own counts.
    for (const p of [a, b]) {
      // Media stats first: a frame is decrypted before it is decoded, so counters read
      // afterwards can only be ahead of what the decoder reported.
      const media = firstRemote(await p.page.evaluate(mediaStats));
      const crypto = await p.page.evaluate(cryptoStats);
      console.log(`[${p.label}] crypto ${JSON.stringify(crypto.crypto)} frames ${JSON.stringify(crypto.frames)} media ${JSON.stringify(media)}`);
      assert.ok(crypto.frames.encrypt.video > 0 && crypto.frames.encrypt.audio > 0, `${p.label} encrypted audio and video`);
      assert.ok(crypto.frames.decrypt.video >= media.framesDecoded, `${p.label}: every decoded frame passed the decrypt transform`);
      assert.ok(crypto.frames.decrypt.video <= media.framesReceived + 30, `${p.label}: decrypt count tracks frames received`);
      assert.ok(crypto.crypto.encrypted >= crypto.frames.encrypt.video + crypto.frames.encrypt.audio - 5, `${p.label}: the wasm encrypted what the transform saw`);
      assert.ok(crypto.crypto.decrypted >= media.framesDecoded, `${p.label}: the wasm decrypted every decoded frame`);
    }

    // The demo runs under its strict Content-Security-Policy, and nothing it does is refused.
    const csp = await a.page.evaluate(() => document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.content ?? '');
    for (const directive of ["default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "connect-src 'self'", "object-src 'none'", "base-uri 'none'"]) {
      assert.ok(csp.includes(directive), `the demo's CSP has ${directive}: ${csp}`);
    }
    assert.deepEqual([...a.console, ...b.console].filter((line) => /Content Security Policy|Refused to/i.test(line)), [], 'no CSP violation');

    // Both sides show the same safety code once the commit-then-reveal round completed: 5
    // words, and the full 256 bits as 64 hex digits.
    const codes = await Promise.all([a, b].map((p) => waitInPage(p.page, () => window.sotto.call.safetyCode(), (c) => c.state === 'ready', { timeoutMs: 10_000 })));
    assert.equal(codes[0].state, 'ready', `A's safety code is ready: ${JSON.stringify(codes[0])}`);
    assert.equal(codes[1].state, 'ready', `B's safety code is ready: ${JSON.stringify(codes[1])}`);
    assert.equal(codes[0].hex, codes[1].hex, 'both compute the same code');
    assert.deepEqual(codes[0].words, codes[1].words);
    assert.equal(codes[0].words.length, 5, 'five words to read aloud');
    assert.match(codes[0].hex, /^[0-9a-f]{64}$/, 'the full code: 256 bits as 64 hex digits');
    const shown = await a.page.evaluate(() => ({ words: document.querySelector('sotto-call').shadowRoot.querySelector('[part=safety-words]').textContent, hex: document.querySelector('#safety-hex').value.replace(/\s/g, '') }));
    assert.deepEqual(shown, { words: codes[0].words.join(' '), hex: codes[0].hex }, 'the demo shows the words and the fingerprint');

    // Nothing the server saw holds a key or the room secret.
    const keys = await Promise.all([a, b].map((p) => p.page.evaluate(() => window.sotto.call.exportKeysForTesting())));
    const keyHex = keys.flatMap((k) => [k.sender, ...k.receive]);
    assert.ok(keyHex.length >= 4, 'each side holds its sender key and a receive key');
    const secretBytes = Buffer.from(secret, 'base64url');
    const needles = [secret, ...encodings(secretBytes), ...keyHex.flatMap((hex) => encodings(Buffer.from(hex, 'hex')))];
    const seen = [
      ...proxy.record.requests.map((r) => JSON.stringify(r)),
      ...proxy.record.messages.map((m) => m.text ?? m.bytes?.toString('latin1') ?? ''),
    ];
    const roomId = await a.page.evaluate(() => window.sotto.call.roomId);
    assert.ok(seen.some((s) => s.includes(roomId)), 'the recording sees what the server sees (room id in the URL)');
    // Every peer payload crossed the server as a sealed envelope (protocol v2): base64url only.
    const signals = proxy.record.messages.map((m) => (m.text ? JSON.parse(m.text) : null)).filter((m) => m?.type === 'signal');
    assert.ok(signals.length >= 6, `peer payloads (offer, answer, keys, safety rounds) were relayed and recorded (${signals.length})`);
    for (const m of signals) assert.match(m.payload, /^[A-Za-z0-9_-]+$/, `a sealed envelope, not readable JSON: ${m.payload.slice(0, 40)}`);
    assert.equal(findAny(seen, needles), null, 'no key and no room secret in anything the server saw');
    console.log(`call: ${proxy.record.messages.length} relayed messages and ${proxy.record.requests.length} requests checked against ${needles.length} key/secret encodings`);
  });
  await a.context.close();
  await b.context.close();
});

test('a participant with another room secret, put into the room by the server, is ignored: no offer, no media, forged-participant on both sides', async () => {
  const a = await openParticipant(browser, `${proxy.origin}/`, { label: 'A' });
  const roomA = await a.page.evaluate(() => window.sotto.call.roomId);
  const idA = await a.page.evaluate(() => window.sotto.call.peerId);
  // C has a different room secret; the (test) server puts it into A's room anyway. Protocol v2:
  // C's sealed identity does not open with A's room secret (nor A's with C's), so neither is a
  // participant for the other: nothing is offered, nothing sent, no media flows.
  const wrong = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const page = await wrong.newPage();
  await page.goto(`${proxy.origin}/`);
  await page.waitForFunction(() => location.hash.length > 40);
  const roomC = await page.evaluate(() => import('./pkg/sotto.js').then((m) => m.roomIdFor(location.hash.slice(1))));
  roomRedirects.set(`/ws/room/${roomC}`, `/ws/room/${roomA}`);
  await page.click('#join');
  await page.waitForFunction(() => window.sotto?.call?.roomId, null, { timeout: 20_000 });
  const idC = await page.evaluate(() => window.sotto.call.peerId);

  await dumpOnFailure([a], async () => {
    const errorsOf = (p) => p.evaluate(() => window.sotto.events.filter((e) => e.type === 'error').map((e) => e.detail));
    const forgedAtA = await waitInPage(a.page, () => window.sotto.events.filter((e) => e.type === 'error' && e.detail.code === 'forged-participant').map((e) => e.detail.peer), (x) => x.length > 0, { timeoutMs: 15_000 });
    const forgedAtC = await waitInPage(page, () => window.sotto.events.filter((e) => e.type === 'error' && e.detail.code === 'forged-participant').map((e) => e.detail.peer), (x) => x.length > 0, { timeoutMs: 15_000 });
    assert.deepEqual([...new Set(forgedAtA)], [idC], `A refused C's identity as forged (${JSON.stringify(await errorsOf(a.page))})`);
    assert.deepEqual([...new Set(forgedAtC)], [idA], `C refused A's identity as forged (${JSON.stringify(await errorsOf(page))})`);
    // Give a connection every chance to form.
    await page.waitForTimeout(4000);
    for (const [label, p] of [['A', a.page], ['C', page]]) {
      assert.deepEqual(await p.evaluate(() => [...window.sotto.call.participants.keys()]), [], `${label} shows nobody`);
      assert.deepEqual(await p.evaluate(mediaStats), {}, `${label} has no media path to anyone`);
      const stats = await p.evaluate(cryptoStats);
      assert.ok(stats.forgedParticipants >= 1, `${label} counted the forged participant (${stats.forgedParticipants})`);
    }
    const between = proxy.record.messages.filter((m) => m.text && /"type":"signal"/.test(m.text) && m.direction === 'to-server' && [idA, idC].includes(m.peer));
    assert.equal(between.length, 0, `neither sent the other a single signal (offer, candidate, key): ${between.length}`);
    const errorCode = await page.evaluate(() => document.querySelector('#error')?.dataset.code);
    assert.equal(errorCode, 'forged-participant', 'the page shows it');
    const stats = await page.evaluate(cryptoStats);
    console.log(`wrong secret: A and C each refused the other's sealed identity (forged-participant, counted ${stats.forgedParticipants}), 0 signals between them, no media path, nobody shown`);
  });
  roomRedirects.clear();
  await wrong.close();
  await a.context.close();
});
