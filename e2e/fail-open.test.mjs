// Media never leaves unencrypted (issue 11, item 1). A participant that answered a
// receive-only offer used to attach its sender transform too late: Chromium then skipped it and
// camera and microphone went out protected by DTLS-SRTP only, decodable by a page with no
// keys (measured before the fix with the first test below: the keyless page decoded 96 and 94
// frames of A's and B's camera, and A's worker had encrypted 129 of the 225 video frames A
// sent, none of the 96 sent to the keyless page). Here:
// - a keyless receive-only peer (the link, but no Sotto call code and no frame transform; the
//   real worker) joins a call and must decode
//   nothing, and every participant's counters must show that every frame it sent went through
//   the encrypt transform;
// - the old order, forced in the test build, is caught by the runtime invariant: the sender is
//   stopped, the error reported and counted;
// - an honest participant joining audio-only decrypts everything it receives, and the video
//   the others send it is encrypted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INSTRUMENT_RESOURCES, openParticipant, waitInPage } from './lib/browser.mjs';
import { workerAndChromium } from './lib/fixture.mjs';
import { joinKeyless } from './lib/keyless.mjs';
import { dumpOnFailure, mediaStats } from './lib/probes.mjs';

const env = workerAndChromium();

// In a participant's page (instrumented): what its peer connections sent, read first, then
// what its encrypt transforms saw. Every frame sent must have been seen: sent <= seen (a few
// frames may sit between the encoder and the transform at the moment of reading).
const sentVersusEncrypted = async () => {
  const perConnection = [];
  for (const pc of window.__resources.pcs) {
    if (pc.signalingState === 'closed') continue;
    const entry = { videoFramesSent: 0, audioPacketsSent: 0 };
    for (const s of (await pc.getStats()).values()) {
      if (s.type !== 'outbound-rtp') continue;
      if (s.kind === 'video') entry.videoFramesSent += s.framesEncoded ?? 0;
      else entry.audioPacketsSent += s.packetsSent ?? 0;
    }
    perConnection.push(entry);
  }
  const { frames } = await window.sotto.call.cryptoStats();
  return {
    perConnection,
    videoFramesSent: perConnection.reduce((n, e) => n + e.videoFramesSent, 0),
    audioPacketsSent: perConnection.reduce((n, e) => n + e.audioPacketsSent, 0),
    videoFramesEncrypted: frames.encrypt.video,
    audioFramesEncrypted: frames.encrypt.audio,
  };
};

const IN_FLIGHT = 5;

async function decodesEachOther(people) {
  for (const p of people) {
    const stats = await waitInPage(p.page, mediaStats, (s) => Object.keys(s).length === people.length - 1 && Object.values(s).every((e) => e.framesDecoded >= 20), { timeoutMs: 30_000 });
    assert.ok(Object.values(stats).every((e) => e.framesDecoded >= 20), `${p.label} decodes the others: ${JSON.stringify(stats)}`);
  }
}

test('a keyless receive-only peer decodes nothing, and every frame each participant sent was encrypted', async () => {
  const a = await openParticipant(env.browser, `${env.worker.origin}/`, { label: 'A', initScripts: [INSTRUMENT_RESOURCES] });
  const b = await openParticipant(env.browser, a.page.url(), { label: 'B', initScripts: [INSTRUMENT_RESOURCES] });
  let keyless;
  await dumpOnFailure([a, b], async () => {
    await decodesEachOther([a, b]);
    const roomId = await a.page.evaluate(() => window.sotto.call.roomId);
    keyless = await joinKeyless(env.browser, env.worker.origin, roomId, new URL(a.page.url()).hash.slice(1));
    const received = await waitInPage(keyless.page, () => window.keyless.stats(), (s) => Object.keys(s).length === 2 && Object.values(s).every((e) => e.videoPacketsReceived >= 200 && e.audioPacketsReceived >= 50), { timeoutMs: 30_000 });
    assert.equal(Object.keys(received).length, 2, `the keyless peer connected to both: ${JSON.stringify(received)}`);
    for (const entry of Object.values(received)) assert.ok(entry.videoPacketsReceived >= 200 && entry.audioPacketsReceived >= 50, `media reaches the keyless peer: ${JSON.stringify(received)}`);
    await keyless.page.waitForTimeout(1500);
    const atKeyless = await keyless.stats();
    const counters = {};
    for (const p of [a, b]) counters[p.label] = await p.page.evaluate(sentVersusEncrypted);
    console.log(`keyless peer: ${JSON.stringify(atKeyless)}; sent vs encrypted: ${JSON.stringify(counters)}`);
    // VP8 keeps a frame's first bytes (frame tag, and a key frame's size) in the clear, so its
    // decoder now and then turns an encrypted frame into a picture of noise; the video never
    // plays. (Before the fix: every frame decoded.) The proof that nothing left in the clear is
    // the senders' counters below.
    for (const [peer, entry] of Object.entries(atKeyless)) {
      assert.ok(entry.framesDecoded * 10 <= entry.framesReceived,
        `the keyless peer decoded ${entry.framesDecoded} of ${entry.framesReceived} video frames of ${peer} (${JSON.stringify(entry)})`);
    }
    for (const p of [a, b]) {
      // The client's own per-sender check agrees: both kinds to both peers seen by a transform.
      const { invariant } = await p.page.evaluate(() => window.sotto.call.cryptoStats());
      assert.equal(invariant.trips, 0, `${p.label}: the invariant never tripped`);
      const toKeyless = invariant.senders.filter((e) => e.peer === keyless.peerId);
      assert.deepEqual(toKeyless.map((e) => e.kind).sort(), ['audio', 'video'], `${p.label} checked its senders to the keyless peer: ${JSON.stringify(invariant)}`);
      for (const e of invariant.senders) assert.ok(e.sent > 0 && e.sent <= e.seen + IN_FLIGHT && !e.blocked, `${p.label}: sender ${JSON.stringify(e)}`);
    }
    for (const [label, c] of Object.entries(counters)) {
      assert.ok(c.perConnection.length === 2 && c.perConnection.every((e) => e.videoFramesSent > 30), `${label} sent video on both connections: ${JSON.stringify(c.perConnection)}`);
      assert.ok(c.videoFramesSent <= c.videoFramesEncrypted + IN_FLIGHT, `${label}: ${c.videoFramesSent} video frames sent, ${c.videoFramesEncrypted} encrypted`);
      assert.ok(c.audioPacketsSent <= c.audioFramesEncrypted + IN_FLIGHT, `${label}: ${c.audioPacketsSent} audio packets sent, ${c.audioFramesEncrypted} frames encrypted`);
    }
    const decoded = Object.values(atKeyless).map((e) => e.framesDecoded);
    console.log(`keyless: ${Object.values(atKeyless).map((e) => e.framesReceived).join('/')} video frames received, ${decoded.join('/')} decoded (stray encrypted frames as noise); A sent ${counters.A.videoFramesSent} video frames, encrypted ${counters.A.videoFramesEncrypted}; B sent ${counters.B.videoFramesSent}, encrypted ${counters.B.videoFramesEncrypted}`);
  });
  await keyless?.context.close();
  await a.context.close();
  await b.context.close();
});

const errorsOf = (page) => page.evaluate(() => window.sotto.events.filter((e) => e.type === 'error').map((e) => ({ ...e.detail, at: e.at })));

test('the old transform order, forced in a test build, is caught: the sender is stopped, reported and counted', async () => {
  // A answers in the order used before the fix; B is an ordinary participant.
  const a = await openParticipant(env.browser, `${env.worker.origin}/`, { label: 'A(unsafe order)', initScripts: [INSTRUMENT_RESOURCES], options: { testUnsafeTransformOrder: true } });
  const b = await openParticipant(env.browser, a.page.url(), { label: 'B' });
  let keyless;
  await dumpOnFailure([a, b], async () => {
    await decodesEachOther([a, b]);
    const [idA, roomId] = await a.page.evaluate(() => [window.sotto.call.peerId, window.sotto.call.roomId]);
    keyless = await joinKeyless(env.browser, env.worker.origin, roomId, new URL(a.page.url()).hash.slice(1));
    const joinedAt = Date.now();
    const blocked = await waitInPage(a.page, () => window.sotto.events.filter((e) => e.type === 'error' && e.detail.code === 'unencrypted-media-blocked').length, (n) => n >= 2, { timeoutMs: 20_000 });
    const blockedInMs = Date.now() - joinedAt;
    const errors = (await errorsOf(a.page)).filter((e) => e.code === 'unencrypted-media-blocked');
    assert.equal(blocked, 2, `A reported both of its senders to the keyless peer: ${JSON.stringify(errors)}`);
    assert.deepEqual(errors.map((e) => e.peer), [keyless.peerId, keyless.peerId], 'the errors name the keyless peer');
    assert.deepEqual(errors.map((e) => e.kind).sort(), ['audio', 'video'], 'audio and video were both caught');
    const { invariant } = await a.page.evaluate(() => window.sotto.call.cryptoStats());
    assert.equal(invariant.trips, 2, `counted: ${JSON.stringify(invariant)}`);
    // The senders to the keyless peer have no track any more; the one to B still sends.
    const tracks = await a.page.evaluate(() => window.__resources.pcs.filter((pc) => pc.signalingState !== 'closed').map((pc) => pc.getSenders().map((s) => s.track?.kind ?? null)));
    assert.equal(tracks.length, 2, 'A has two connections');
    assert.ok(tracks.some((kinds) => kinds.every((k) => k === null)), `the senders to the keyless peer were stopped: ${JSON.stringify(tracks)}`);
    const leakedThen = (await keyless.stats())[idA]?.framesDecoded ?? 0;
    await keyless.page.waitForTimeout(2000);
    const leakedLater = (await keyless.stats())[idA]?.framesDecoded ?? 0;
    assert.ok(leakedLater - leakedThen <= 1, `nothing more reaches the keyless peer after the block (${leakedThen} -> ${leakedLater} frames)`);
    const bDecodesA = await waitInPage(b.page, mediaStats, (s) => (s[idA]?.framesDecoded ?? 0) > 0, { timeoutMs: 5000 });
    const before = bDecodesA[idA].framesDecoded;
    await b.page.waitForTimeout(1000);
    assert.ok((await b.page.evaluate(mediaStats))[idA].framesDecoded > before + 5, 'B keeps decoding A (only the leaking senders were stopped)');
    const leaked = Object.fromEntries(invariant.stopped.map((e) => [e.kind, e.sent - e.seen]));
    console.log(`invariant: tripped ${invariant.trips}x (audio and video to the keyless peer) ${blockedInMs} ms after it joined, with ${leaked.video} video frames and ${leaked.audio} audio packets out unencrypted; the keyless page decoded ${leakedLater} of A's frames, none after; A->B unaffected`);
  });
  await keyless?.context.close();
  await a.context.close();
  await b.context.close();
});

// The demo asks for camera and microphone; this participant's browser hands out the microphone only.
const AUDIO_ONLY = () => {
  const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = (constraints) => getUserMedia({ ...constraints, video: false });
};

test('a participant who joins audio-only decrypts everything it receives, and the video sent to it is encrypted', async () => {
  const a = await openParticipant(env.browser, `${env.worker.origin}/`, { label: 'A', initScripts: [INSTRUMENT_RESOURCES] });
  const b = await openParticipant(env.browser, a.page.url(), { label: 'B', initScripts: [INSTRUMENT_RESOURCES] });
  await dumpOnFailure([a, b], async () => {
    await decodesEachOther([a, b]);
    const c = await openParticipant(env.browser, a.page.url(), { label: 'C(audio only)', initScripts: [AUDIO_ONLY] });
    await dumpOnFailure([c], async () => {
      const idC = await c.page.evaluate(() => window.sotto.call.peerId);
      assert.deepEqual(await c.page.evaluate(() => window.sotto.call.localStream.getTracks().map((t) => t.kind)), ['audio'], 'C sends audio only');
      const atC = await waitInPage(c.page, mediaStats, (s) => Object.keys(s).length === 2 && Object.values(s).every((e) => e.framesDecoded >= 30), { timeoutMs: 30_000 });
      assert.ok(Object.values(atC).every((e) => e.framesDecoded >= 30), `C decodes A's and B's video: ${JSON.stringify(atC)}`);
      const media = await c.page.evaluate(mediaStats);
      const crypto = await c.page.evaluate(() => window.sotto.call.cryptoStats());
      const decoded = Object.values(media).reduce((n, e) => n + e.framesDecoded, 0);
      assert.ok(crypto.frames.decrypt.video >= decoded && crypto.crypto.decrypted >= decoded, `every frame C decoded was decrypted: ${JSON.stringify({ frames: crypto.frames, crypto: crypto.crypto, decoded })}`);
      assert.equal(crypto.crypto.dropped_auth + crypto.crypto.dropped_malformed, 0, `nothing C received failed to decrypt: ${JSON.stringify(crypto.crypto)}`);
      for (const p of [a, b]) {
        const atP = await p.page.evaluate(mediaStats);
        assert.ok(atP[idC]?.audioPacketsReceived > 0, `${p.label} hears C`);
        const counters = await p.page.evaluate(sentVersusEncrypted);
        assert.ok(counters.videoFramesSent <= counters.videoFramesEncrypted + IN_FLIGHT, `${p.label}: every video frame it sent (to C too) was encrypted: ${JSON.stringify(counters)}`);
        const { invariant } = await p.page.evaluate(() => window.sotto.call.cryptoStats());
        const videoToC = invariant.senders.find((e) => e.peer === idC && e.kind === 'video');
        assert.ok(videoToC && videoToC.sent > 0 && videoToC.sent <= videoToC.seen + IN_FLIGHT && invariant.trips === 0, `${p.label}'s video to C went through its transform: ${JSON.stringify(invariant)}`);
      }
      console.log(`audio-only: C decoded ${Object.values(atC).map((e) => e.framesDecoded).join('/')} frames from A/B, all decrypted (${crypto.crypto.decrypted} decrypted, 0 auth or malformed drops); A's and B's video to C passed their transforms`);
    });
    await c.context.close();
  });
  await a.context.close();
  await b.context.close();
});
