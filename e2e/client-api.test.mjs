// The client API beyond joining: mute, replacing the sent track (device switch, screen), and
// close() leaving nothing behind. Real Chromium, real worker.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from './lib/worker.mjs';
import { launchChromium, openParticipant, waitInPage } from './lib/browser.mjs';
import { dumpOnFailure, firstRemote, mediaStats, remotePixels } from './lib/probes.mjs';

let worker;
let browser;

before(async () => {
  worker = await startWorker();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
});

async function pixelsSettle(page, predicate, timeoutMs = 10_000) {
  return waitInPage(page, remotePixels, (p) => p && predicate(p), { timeoutMs, intervalMs: 250 });
}

test('mute, a replaced (encrypted) track, and close() leaving nothing behind', async () => {
  const a = await openParticipant(browser, `${worker.origin}/?testing=1`, { label: 'A' });
  const b = await openParticipant(browser, a.page.url(), { label: 'B' });
  await dumpOnFailure([a, b], async () => {
    await waitInPage(b.page, mediaStats, (s) => firstRemote(s).framesDecoded >= 20, { timeoutMs: 30_000 });
    const live = await pixelsSettle(b.page, (p) => p.stddev > 5);
    assert.ok(live.stddev > 5, `B sees A's camera (stddev ${live.stddev})`);

    // Muting the camera sends black frames; unmuting brings the picture back.
    await a.page.evaluate(() => window.sotto.call.setMuted('video', true));
    assert.equal(await a.page.evaluate(() => window.sotto.call.isMuted('video')), true);
    const muted = await pixelsSettle(b.page, (p) => p.stddev < 2);
    assert.ok(muted.stddev < 2, `B sees black while A is muted (stddev ${muted.stddev})`);
    await a.page.evaluate(() => window.sotto.call.setMuted('video', false));
    const back = await pixelsSettle(b.page, (p) => p.stddev > 5);
    assert.ok(back.stddev > 5, 'the picture comes back after unmuting');

    // Replacing the camera with another track (as a device switch or a screen share does):
    // B decodes the new picture, so it went through the same encryption.
    const before = await a.page.evaluate(() => window.sotto.call.cryptoStats());
    await a.page.evaluate(async () => {
      const canvas = document.createElement('canvas');
      canvas.width = 320;
      canvas.height = 240;
      const ctx = canvas.getContext('2d');
      const paint = () => { ctx.fillStyle = '#d01010'; ctx.fillRect(0, 0, 320, 240); };
      paint();
      window.paintTimer = setInterval(paint, 50);
      const [track] = canvas.captureStream(20).getVideoTracks();
      await window.sotto.call.replaceTrack(track);
    });
    const red = await waitInPage(b.page, () => {
      const video = document.querySelector('video.remote-video');
      if (!video || video.videoWidth === 0) return null;
      const c = document.createElement('canvas');
      c.width = 16;
      c.height = 12;
      const ctx = c.getContext('2d');
      ctx.drawImage(video, 0, 0, 16, 12);
      const d = ctx.getImageData(0, 0, 16, 12).data;
      let r = 0; let g = 0;
      for (let i = 0; i < d.length; i += 4) { r += d[i]; g += d[i + 1]; }
      return { r: r / (d.length / 4), g: g / (d.length / 4), width: video.videoWidth };
    }, (p) => p && p.r > 150 && p.g < 60, { timeoutMs: 10_000 });
    assert.ok(red && red.r > 150 && red.g < 60, `B sees the replacement picture (${JSON.stringify(red)})`);
    const afterReplace = await a.page.evaluate(() => window.sotto.call.cryptoStats());
    assert.ok(afterReplace.frames.encrypt.video > before.frames.encrypt.video, 'the new track is encrypted by the same transform');

    // close(): the other side sees the leave at once; the closed call refuses further use.
    const leftBefore = await b.page.evaluate(() => window.sotto.events.filter((e) => e.type === 'participant-left').length);
    await a.page.evaluate(() => window.sotto.call.close());
    const left = await waitInPage(b.page, () => window.sotto.events.filter((e) => e.type === 'participant-left').length, (n) => n > leftBefore, { timeoutMs: 5000 });
    assert.ok(left > leftBefore, 'B saw A leave');
    const afterClose = await a.page.evaluate(async () => {
      const call = window.sotto.call;
      const refused = await call.cryptoStats().then(() => null, (e) => e.code);
      return { refused, participants: call.participants.size };
    });
    assert.deepEqual(afterClose, { refused: 'closed', participants: 0 }, 'nothing left running in the closed call');
    console.log(`client api: mute (stddev ${live.stddev.toFixed(1)} -> ${muted.stddev.toFixed(1)} -> ${back.stddev.toFixed(1)}), replaced track decoded at B (${JSON.stringify(red)}), close() seen by B`);
  });
  await a.context.close();
  await b.context.close();
});
