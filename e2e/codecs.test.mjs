// Video codecs besides the default VP8 of the other tests, end to end encrypted: H.264
// (NAL-aware: NAL headers in the clear, no start-code emulation in the ciphertext) and VP9.
// The receiver decodes, so the packetizer, depacketizer and decoder all accepted what the
// encryption produced. AV1 is refused: its packetizer needs OBU headers that a whole-frame
// ciphertext lacks (tried: packets flowed, zero frames were assembled).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INSTRUMENT_RESOURCES, openParticipant, waitInPage } from './lib/browser.mjs';
import { workerAndChromium } from './lib/fixture.mjs';
import { cryptoStats, dumpOnFailure, firstRemote, mediaStats, remotePixels } from './lib/probes.mjs';

const env = workerAndChromium();

for (const codec of ['H264', 'VP9']) {
  test(`${codec}: encrypted video decodes both ways`, async () => {
    const a = await openParticipant(env.browser, `${env.worker.origin}/?testing=1&codec=${codec}`, { label: `A(${codec})` });
    const b = await openParticipant(env.browser, a.page.url(), { label: `B(${codec})` });
    await dumpOnFailure([a, b], async () => {
      const results = [];
      for (const p of [a, b]) {
        const media = firstRemote(await waitInPage(p.page, mediaStats, (s) => firstRemote(s).framesDecoded >= 20, { timeoutMs: 30_000 }));
        assert.ok(media.framesDecoded >= 20, `${p.label} decodes: ${JSON.stringify(media)}`);
        assert.equal(media.videoCodec, `video/${codec}`, `${p.label} negotiated ${codec}`);
        const crypto = await p.page.evaluate(cryptoStats);
        assert.ok(crypto.frames.decrypt.video >= media.framesDecoded, `${p.label}: every decoded frame was decrypted (${JSON.stringify(crypto.frames)})`);
        assert.equal(crypto.crypto.dropped_auth + crypto.crypto.dropped_malformed, 0, `${p.label}: nothing failed to authenticate or parse (${JSON.stringify(crypto.crypto)})`);
        const pixels = await waitInPage(p.page, remotePixels, (x) => x && x.stddev > 5, { timeoutMs: 10_000 });
        assert.ok(pixels?.stddev > 5, `${p.label} shows a real picture (${JSON.stringify(pixels)})`);
        results.push(`${p.label} ${media.framesDecoded} decoded`);
      }
      // What A's transform sent: the codec the wasm was told, and for H.264 the NAL layout
      // (a start code and a NAL header in the clear, the rest sealed).
      await a.page.evaluate(() => window.sotto.call.testCapture(3));
      const sent = await waitInPage(a.page, () => window.sotto.call.testCaptured(), (f) => f.length >= 3, { timeoutMs: 10_000 });
      assert.ok(sent.length >= 3 && sent.every((f) => f.mime === `video/${codec}`), `the transform encrypted ${codec} frames as ${codec}: ${sent.map((f) => f.mime)}`);
      if (codec === 'H264') {
        const startsWithStartCode = sent.every((f) => { const d = Object.values(f.data); return d[0] === 0 && d[1] === 0 && (d[2] === 1 || (d[2] === 0 && d[3] === 1)); });
        assert.ok(startsWithStartCode, 'H.264 frames keep their Annex B start code in the clear');
      }
      console.log(`${codec}: ${results.join(', ')}, 0 auth or parse drops; ${sent.length} sent frames checked as ${sent[0].mime}`);
    });
    await a.context.close();
    await b.context.close();
  });
}

test('AV1 is refused with unsupported-codec and never offered', async () => {
  const a = await openParticipant(env.browser, `${env.worker.origin}/?testing=1&codec=AV1`, { label: 'A(AV1)' });
  const refused = await a.page.evaluate(() => document.querySelector('#error').dataset.code);
  assert.equal(refused, 'unsupported-codec', 'asking for AV1 fails with its own code');
  await a.context.close();
  const b = await openParticipant(env.browser, `${env.worker.origin}/?testing=1`, { label: 'B', initScripts: [INSTRUMENT_RESOURCES] });
  const c = await openParticipant(env.browser, b.page.url(), { label: 'C' });
  await dumpOnFailure([b, c], async () => {
    await waitInPage(c.page, mediaStats, (s) => firstRemote(s).framesDecoded >= 5, { timeoutMs: 30_000 });
    const capable = await c.page.evaluate(() => RTCRtpSender.getCapabilities('video').codecs.some((x) => x.mimeType === 'video/AV1'));
    assert.ok(capable, 'this browser can do AV1 (so the check below means something)');
    // C (the newcomer) offered; B answered. Neither description lists AV1.
    const sdps = await b.page.evaluate(() => window.__resources.pcs.flatMap((pc) => [pc.remoteDescription?.sdp, pc.localDescription?.sdp]).filter(Boolean));
    assert.equal(sdps.length, 2, 'B has the offer and its answer');
    assert.deepEqual(sdps.filter((sdp) => /AV1\//.test(sdp)), [], 'no offer or answer in the call lists AV1');
    assert.ok(sdps.every((sdp) => /VP8\//.test(sdp)), 'the SDP parser sees codecs at all (VP8 listed)');
    console.log('AV1: refused with unsupported-codec; offers and answers list VP8 and never AV1');
  });
  await b.context.close();
  await c.context.close();
});
