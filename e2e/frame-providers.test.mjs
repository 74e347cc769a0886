// The AEAD provider seam in the browser: RFC 9605's test vectors through the platform provider
// (WebCrypto AES-GCM, as the crypto Worker runs it for large video frames). The wasm (test
// build) derives the SFrame key and salt and computes the nonce and the AAD (`header ||
// metadata`) into its job area, hands the AES-GCM key out once for importKey as a
// non-extractable CryptoKey, and WebCrypto seals and opens; the result must be the RFC's bytes,
// the same bytes the RustCrypto provider makes inside the same wasm. The native side of the
// same vectors (and the interop with the `sframe` crate) is e2ee/tests/vectors.rs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { workerAndChromium } from './lib/fixture.mjs';
import { openParticipant, waitInPage } from './lib/browser.mjs';
import { cryptoStats, dumpOnFailure, firstRemote, mediaStats } from './lib/probes.mjs';

const env = workerAndChromium();
const here = path.dirname(fileURLToPath(import.meta.url));
const vectors = JSON.parse(fs.readFileSync(path.join(here, '../e2ee/tests/data/sframe-rfc9605.json'), 'utf8'));

test('RFC 9605 vectors on the WebCrypto provider, with the nonce, AAD and key the wasm computes', async () => {
  const cases = vectors.sframe.filter((c) => c.cipher_suite >= 1 && c.cipher_suite <= 4);
  assert.equal(cases.length, 4, 'suites 1-4 of the RFC');
  const context = await env.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${env.worker.origin}/`);
  const results = await page.evaluate(async (cases) => {
    const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    const unhex = (s) => new Uint8Array(s.match(/../g).map((h) => parseInt(h, 16)));
    const mod = await import('/pkg/sotto_client_wasm.js');
    const wasm = await mod.default({ module_or_path: '/pkg/sotto_client_wasm_bg.wasm' });
    const c = new mod.CallCrypto(mod.generateRoomSecret(), 'vectors');
    const out = [];
    for (const v of cases) {
      const ours = c.testVectorJob(v.cipher_suite, v.kid, v.ctr, v.base_key, v.metadata, v.pt);
      const regs = new Uint32Array(wasm.memory.buffer, c.frameRegisters(), 10);
      const [, , jobPtr, handle, prefixLen, aadLen, headerLen] = regs;
      const mem = () => new Uint8Array(wasm.memory.buffer);
      const nonce = mem().slice(jobPtr, jobPtr + 12);
      const aad = mem().slice(jobPtr + 16, jobPtr + 16 + aadLen);
      const header = aad.subarray(0, headerLen);
      const r = { suite: v.cipher_suite, ours, nonce: hex(nonce), aad: hex(aad), prefixLen };
      const status = c.platformKey(handle);
      r.keyStatus = status;
      if (status === 0) {
        const at = new Uint32Array(wasm.memory.buffer, c.frameRegisters(), 10)[2] + 48;
        const raw = mem().slice(at, at + 16);
        c.clearPlatformKey();
        r.keyWipedInWasm = mem().slice(at, at + 16).every((b) => b === 0);
        const key = await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
        raw.fill(0);
        r.extractable = key.extractable;
        r.secondHandOut = c.platformKey(handle);
        const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 }, key, unhex(v.pt)));
        r.platform = hex(header) + hex(sealed);
        const opened = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 }, key, sealed));
        r.opened = hex(opened);
        const bad = sealed.slice();
        bad[bad.length - 1] ^= 1;
        r.tamperedRefused = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad }, key, bad).then(() => false, () => true);
        const otherAad = aad.slice();
        otherAad[otherAad.length - 1] ^= 1;
        r.otherAadRefused = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: nonce, additionalData: otherAad }, key, sealed).then(() => false, () => true);
      }
      out.push(r);
    }
    return out;
  }, cases);
  await context.close();

  for (const [i, v] of cases.entries()) {
    const r = results[i];
    // the wasm's nonce and AAD are the RFC's; its RustCrypto provider makes the RFC's bytes
    assert.equal(r.nonce, v.nonce, `nonce, suite ${v.cipher_suite}`);
    assert.equal(r.aad, v.aad, `aad, suite ${v.cipher_suite}`);
    assert.equal(r.prefixLen, v.metadata.length / 2);
    assert.equal(r.ours, v.ct, `the wasm's RustCrypto provider, suite ${v.cipher_suite}`);
    if (v.cipher_suite === 4) {
      assert.equal(r.keyStatus, 0, 'the AES-GCM key is handed out for import');
      assert.equal(r.keyWipedInWasm, true, 'and wiped from the job area after');
      assert.equal(r.extractable, false, 'imported non-extractable');
      assert.equal(r.secondHandOut, -1, 'handed out once per key');
      assert.equal(r.platform, v.ct, 'WebCrypto AES-GCM on the wasm\'s nonce and AAD gives the RFC\'s SFrame ciphertext');
      assert.equal(r.opened, v.pt);
      assert.equal(r.tamperedRefused, true);
      assert.equal(r.otherAadRefused, true);
    } else {
      // the CTR-HMAC suites never go to the platform (WebCrypto has no truncated-HMAC AEAD)
      assert.equal(r.keyStatus, -1, `no platform key for suite ${v.cipher_suite}`);
    }
  }
  console.log(`RFC 9605: suites 1-4 through the wasm's RustCrypto provider, suite 4 through WebCrypto: ${results.map((r) => r.suite).join(',')} ok`);
});

test('a call: large video frames are sealed and opened on WebCrypto, the rest in the wasm; a tampered one is refused and counted', async () => {
  const a = await openParticipant(env.browser, `${env.worker.origin}/`, { label: 'A' });
  const b = await openParticipant(env.browser, a.page.url(), { label: 'B' });
  await dumpOnFailure([a, b], async () => {
    await waitInPage(b.page, mediaStats, (s) => firstRemote(s).framesDecoded >= 30, { timeoutMs: 30_000 });
    const sa = await a.page.evaluate(cryptoStats);
    const sb = await b.page.evaluate(cryptoStats);
    // video frames of a 640x480 call are mostly above platformMinLen (1 KB); audio never goes
    assert.ok(sa.frames.platform.encrypt > 10, `A sealed video on WebCrypto: ${JSON.stringify(sa.frames)}`);
    assert.ok(sb.frames.platform.decrypt > 10, `B opened video on WebCrypto: ${JSON.stringify(sb.frames)}`);
    assert.ok(sa.frames.platform.encrypt < sa.frames.encrypt.video + sa.frames.encrypt.audio, 'audio (and small frames) stayed in the wasm');
    assert.ok(sa.frames.encrypt.audio > 10 && sb.frames.decrypt.audio > 10, 'audio flows (CTR-HMAC in the wasm)');
    assert.equal(sb.crypto.dropped_auth, 0);
    // flipped bits in A's video: WebCrypto refuses them, the wasm counts them, B keeps decoding
    const before = (await b.page.evaluate(cryptoStats)).crypto.dropped_auth;
    await a.page.evaluate(() => window.sotto.call.testAttack({ flipEvery: 7 }));
    await b.page.waitForTimeout(2500);
    const after = await b.page.evaluate(cryptoStats);
    const attack = await a.page.evaluate(() => window.sotto.call.testAttackStats());
    assert.ok(attack.flipped > 0, 'A flipped bits');
    assert.ok(after.crypto.dropped_auth - before > 0, `tampered frames refused: ${JSON.stringify(after.crypto)}`);
    assert.ok(after.crypto.dropped_auth - before <= attack.flipped, 'only tampered frames were refused');
    console.log(`call: A sealed ${sa.frames.platform.encrypt} of ${sa.frames.encrypt.video} video frames on WebCrypto, B opened ${sb.frames.platform.decrypt}; ${attack.flipped} flipped, ${after.crypto.dropped_auth - before} refused`);
  });
  await a.context.close();
  await b.context.close();
});
