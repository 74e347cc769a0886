// Video codecs besides the default VP8 of the other tests, end to end encrypted: H.264
// (NAL-aware: NAL headers in the clear, no start-code emulation in the ciphertext), VP9 (whole
// frame) and AV1 (OBU-aware: OBU headers in the clear, since the packetizer splits on them; a
// whole-frame ciphertext had packets flowing and zero frames assembled). The receiver
// decodes, so the packetizer, depacketizer and decoder all accepted what encryption produced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openParticipant, waitInPage } from './lib/browser.mjs';
import { workerAndChromium } from './lib/fixture.mjs';
import { cryptoStats, dumpOnFailure, firstRemote, mediaStats, remotePixels } from './lib/probes.mjs';

const env = workerAndChromium();

for (const codec of ['H264', 'VP9', 'AV1']) {
  test(`${codec}: encrypted video decodes both ways`, async () => {
    const options = { videoCodec: codec };
    const a = await openParticipant(env.browser, `${env.worker.origin}/`, { label: `A(${codec})`, options });
    const b = await openParticipant(env.browser, a.page.url(), { label: `B(${codec})`, options });
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
      if (codec === 'AV1') {
        // Every frame is a sequence of OBUs with size fields: header byte, forbidden bit clear.
        const wellFormed = sent.every((f) => { const d = Object.values(f.data); return (d[0] & 0x80) === 0 && (d[0] & 0x02) !== 0 && [1, 3, 4, 5, 6].includes((d[0] >> 3) & 0x0f); });
        assert.ok(wellFormed, 'AV1 frames start with a clear OBU header');
      }
      console.log(`${codec}: ${results.join(', ')}, 0 auth or parse drops; ${sent.length} sent frames checked as ${sent[0].mime}`);
    });
    await a.context.close();
    await b.context.close();
  });
}

