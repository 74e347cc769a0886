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

    // Both sides show the same safety code.
    const codes = await Promise.all([a, b].map((p) => p.page.evaluate(() => window.sotto.call.safetyCode())));
    assert.equal(codes[0].digits, codes[1].digits);
    assert.ok(codes[0].digits.replace(/\D/g, '').length >= 25, 'safety code shows at least ~80 bits');

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
    const sealedKeys = proxy.record.messages.filter((m) => m.text?.includes('sender-key'));
    assert.ok(sealedKeys.length >= 2, 'sealed key messages were relayed (and recorded)');
    assert.equal(findAny(seen, needles), null, 'no key and no room secret in anything the server saw');
    console.log(`call: ${proxy.record.messages.length} relayed messages and ${proxy.record.requests.length} requests checked against ${needles.length} key/secret encodings`);
  });
  await a.context.close();
  await b.context.close();
});

test('a receiver with the wrong key decodes zero frames', async () => {
  const a = await openParticipant(browser, `${proxy.origin}/`, { label: 'A' });
  const roomA = await a.page.evaluate(() => window.sotto.call.roomId);
  // C has a different room secret; the (test) server puts it into A's room anyway, so C
  // receives A's encrypted media but holds no key that opens it.
  const wrong = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const page = await wrong.newPage();
  await page.goto(`${proxy.origin}/`);
  await page.waitForFunction(() => location.hash.length > 40);
  const roomC = await page.evaluate(() => import('./pkg/sotto.js').then((m) => m.roomIdFor(location.hash.slice(1))));
  roomRedirects.set(`/ws/room/${roomC}`, `/ws/room/${roomA}`);
  await page.click('#join');
  await page.waitForFunction(() => window.sotto?.call?.roomId, null, { timeout: 20_000 });

  await dumpOnFailure([a], async () => {
    const stats = await waitInPage(page, mediaStats, (s) => firstRemote(s).videoPacketsReceived >= 100, { timeoutMs: 30_000 });
    assert.ok(firstRemote(stats).videoPacketsReceived >= 100, `encrypted video reaches the receiver: ${JSON.stringify(stats)}`);
    await page.waitForTimeout(1000);
    const after = firstRemote(await page.evaluate(mediaStats));
    assert.equal(after.framesDecoded, 0, 'not a single frame decoded without the right key');
    const crypto = await page.evaluate(cryptoStats);
    assert.ok(crypto.frames.decrypt.video > 0, 'frames went through the decrypt transform');
    assert.equal(crypto.crypto.decrypted, 0, 'nothing decrypted');
    const errorCode = await page.evaluate(() => document.querySelector('#error')?.dataset.code);
    assert.ok(errorCode, `the page reported the rejected key (${errorCode})`);
    console.log(`wrong key: ${after.videoPacketsReceived} video packets received, 0 decoded, decrypt drops ${JSON.stringify(crypto.crypto)}, error ${errorCode}`);
  });
  roomRedirects.clear();
  await wrong.close();
  await a.context.close();
});
