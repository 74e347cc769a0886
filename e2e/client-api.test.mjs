// The client API beyond joining: mute, replacing the sent track, switching camera, sharing
// the screen, AbortSignal, and close() leaving nothing behind (checked by instrumenting the
// page's RTCPeerConnections, WebSockets, Workers and the module's timers). Real Chromium
// (with two fake cameras and a fake screen), real worker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INSTRUMENT_RESOURCES, openParticipant, waitInPage } from './lib/browser.mjs';
import { workerAndChromium } from './lib/fixture.mjs';
import { dumpOnFailure, firstRemote, mediaStats, remotePixels } from './lib/probes.mjs';

const env = workerAndChromium();

async function pixelsSettle(page, predicate, timeoutMs = 10_000) {
  return waitInPage(page, remotePixels, (p) => p && predicate(p), { timeoutMs, intervalMs: 250 });
}

// Shape of the remote picture at B: 4:3 for the fake cameras, 16:9 for the fake screen.
const remoteShape = () => {
  const video = document.querySelector('sotto-call').shadowRoot.querySelector('li.tile:not(.local) video');
  if (!video || video.videoWidth === 0) return null;
  return { width: video.videoWidth, height: video.videoHeight, aspect: Math.round((video.videoWidth / video.videoHeight) * 100) / 100 };
};

test('mute, replaced track, camera switch, screen share, and close() leaving nothing behind', async () => {
  const a = await openParticipant(env.browser, `${env.worker.origin}/`, { label: 'A', initScripts: [INSTRUMENT_RESOURCES] });
  const b = await openParticipant(env.browser, a.page.url(), { label: 'B' });
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
      const video = document.querySelector('sotto-call').shadowRoot.querySelector('li.tile:not(.local) video');
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

    // switchDevice: the second fake camera replaces the canvas; the old track is stopped.
    const switched = await a.page.evaluate(async () => {
      clearInterval(window.paintTimer);
      const call = window.sotto.call;
      const previous = call.localStream.getVideoTracks()[0];
      const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
      const used = new Set(call.localStream.getVideoTracks().map((t) => t.getSettings().deviceId));
      const other = cameras.find((d) => !used.has(d.deviceId));
      const track = await call.switchDevice('video', other.deviceId);
      return { cameras: cameras.length, wanted: other.deviceId, got: track.getSettings().deviceId, previousState: previous.readyState, sent: call.localStream.getVideoTracks()[0] === track };
    });
    assert.ok(switched.cameras >= 2, `two fake cameras (${switched.cameras})`);
    assert.equal(switched.got, switched.wanted, 'the new track comes from the chosen camera');
    assert.equal(switched.previousState, 'ended', 'the previous track was stopped');
    assert.ok(switched.sent, 'the new track is the local video track');
    const camera = await waitInPage(b.page, remoteShape, (p) => p && p.aspect === 1.33, { timeoutMs: 10_000 });
    assert.equal(camera?.aspect, 1.33, `B sees a 4:3 camera again (${JSON.stringify(camera)})`);
    const cameraPixels = await pixelsSettle(b.page, (p) => p.stddev > 5);
    assert.ok(cameraPixels.stddev > 5, 'B sees the second camera\'s picture, not the red canvas');

    // shareScreen: B sees the 16:9 fake screen; stopping brings the 4:3 camera back.
    const encryptedBeforeShare = (await a.page.evaluate(() => window.sotto.call.cryptoStats())).frames.encrypt.video;
    await a.page.evaluate(async () => {
      window.shareEvents = [];
      window.sotto.call.addEventListener('screen-share', ({ detail }) => window.shareEvents.push(detail.active));
      window.stopSharing = await window.sotto.call.shareScreen();
    });
    const screen = await waitInPage(b.page, remoteShape, (p) => p && p.aspect > 1.7, { timeoutMs: 15_000 });
    assert.ok(screen?.aspect > 1.7, `B sees the 16:9 screen (${JSON.stringify(screen)})`);
    const encryptedDuringShare = (await a.page.evaluate(() => window.sotto.call.cryptoStats())).frames.encrypt.video;
    assert.ok(encryptedDuringShare > encryptedBeforeShare, 'the screen is encrypted by the same transform');
    await a.page.evaluate(() => window.stopSharing());
    const cameraBack = await waitInPage(b.page, remoteShape, (p) => p && p.aspect === 1.33, { timeoutMs: 15_000 });
    assert.equal(cameraBack?.aspect, 1.33, `the camera comes back after sharing (${JSON.stringify(cameraBack)})`);
    assert.deepEqual(await a.page.evaluate(() => window.shareEvents), [true, false], 'screen-share events: started, stopped');

    // close(): the other side sees the leave at once; the closed call refuses further use.
    const leftBefore = await b.page.evaluate(() => window.sotto.events.filter((e) => e.type === 'participant-left').length);
    const running = await a.page.evaluate(() => window.__leftRunning());
    // The call core's one timer (keepalive, checks, key re-sends...) is the module's only one.
    assert.ok(running.peerConnections === 1 && running.sockets === 1 && running.workers === 1 && running.timers.length === 1 && running.timers[0].startsWith('setTimeout('),
      `before close() the instrumentation sees the live call, the core's timer included: ${JSON.stringify(running)}`);
    await a.page.evaluate(() => window.sotto.call.close());
    const left = await waitInPage(b.page, () => window.sotto.events.filter((e) => e.type === 'participant-left').length, (n) => n > leftBefore, { timeoutMs: 5000 });
    assert.ok(left > leftBefore, 'B saw A leave');
    const removedKinds = await b.page.evaluate(() => window.sotto.events.filter((e) => e.type === 'track-removed').map((e) => e.detail.track.kind).sort());
    assert.deepEqual(removedKinds, ['audio', 'video'], 'B was told A\'s audio and video tracks are gone');
    const afterClose = await a.page.evaluate(async () => {
      const call = window.sotto.call;
      const refused = await call.cryptoStats().then(() => null, (e) => e.code);
      return { refused, participants: call.participants.size };
    });
    assert.deepEqual(afterClose, { refused: 'closed', participants: 0 }, 'the closed call refuses further use');
    const leftRunning = await a.page.evaluate(() => window.__leftRunning());
    assert.ok(leftRunning.created.peerConnections >= 1 && leftRunning.created.sockets >= 1 && leftRunning.created.workers >= 1, `the instrumentation saw the call's resources: ${JSON.stringify(leftRunning.created)}`);
    assert.deepEqual({ ...leftRunning, created: undefined }, { peerConnections: 0, sockets: 0, workers: 0, timers: [], created: undefined }, 'nothing left running after close()');
    console.log(`client api: mute (stddev ${live.stddev.toFixed(1)} -> ${muted.stddev.toFixed(1)} -> ${back.stddev.toFixed(1)}), replaced track decoded at B, camera switched (${camera.width}x${camera.height}), screen ${screen.width}x${screen.height} then camera ${cameraBack.width}x${cameraBack.height}, close() seen by B and left nothing running (${JSON.stringify(leftRunning.created)} created)`);
  });
  await a.context.close();
  await b.context.close();
});

// Joins from the page's own code with an AbortSignal, as an application would.
async function joinWithSignal(page, { abortAt }) {
  return page.evaluate(async (when) => {
    const { joinCall } = await import('/pkg/sotto.js');
    const controller = new AbortController();
    const roomSecret = location.hash.slice(1);
    const localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
    const joining = joinCall({ roomSecret, localStream, signal: controller.signal });
    if (when === 'during-join') {
      controller.abort();
      const code = await joining.then(() => 'joined', (e) => e.code);
      await new Promise((r) => setTimeout(r, 300));
      return { code, left: window.__leftRunning() };
    }
    const call = await joining;
    window.joined = { call, controller };
    return { peerId: call.peerId };
  }, abortAt);
}

test('AbortSignal: aborting a join leaves nothing running; aborting after the join closes the call', async () => {
  const b = await openParticipant(env.browser, `${env.worker.origin}/`, { label: 'B' });
  const a = await openParticipant(env.browser, b.page.url(), { label: 'A', initScripts: [INSTRUMENT_RESOURCES], join: false });
  await dumpOnFailure([a, b], async () => {
    const early = await joinWithSignal(a.page, { abortAt: 'during-join' });
    assert.equal(early.code, 'aborted', 'an aborted join rejects with code "aborted"');
    assert.deepEqual({ ...early.left, created: undefined }, { peerConnections: 0, sockets: 0, workers: 0, timers: [], created: undefined }, `an aborted join leaves nothing running (${JSON.stringify(early.left)})`);
    assert.ok(early.left.created.workers >= 1, 'the aborted join had started its worker');

    const { peerId } = await joinWithSignal(a.page, { abortAt: 'after-join' });
    await waitInPage(b.page, (id) => window.sotto.call.participants.get(id)?.connectionState, (s) => s === 'connected', { timeoutMs: 20_000, arg: peerId });
    const closed = await a.page.evaluate(async () => {
      const { call, controller } = window.joined;
      const closedEvent = new Promise((r) => call.addEventListener('closed', () => r(true), { once: true }));
      controller.abort();
      const result = await Promise.race([closedEvent, new Promise((r) => setTimeout(() => r(false), 2000))]);
      await new Promise((r) => setTimeout(r, 300));
      return { closedEvent: result, left: window.__leftRunning() };
    });
    assert.equal(closed.closedEvent, true, 'abort() after the join closes the call');
    assert.deepEqual({ ...closed.left, created: undefined }, { peerConnections: 0, sockets: 0, workers: 0, timers: [], created: undefined }, `nothing left running (${JSON.stringify(closed.left)})`);
    const left = await waitInPage(b.page, (id) => window.sotto.events.find((e) => e.type === 'participant-left' && e.detail.peer === id)?.detail ?? null, (d) => d !== null, { timeoutMs: 5000, arg: peerId });
    assert.deepEqual(left, { peer: peerId, reason: 'left' }, 'B saw A leave');
    console.log(`abort signal: join aborted with "${early.code}" and nothing running; abort after joining closed the call and B saw the leave`);
  });
  await a.context.close();
  await b.context.close();
});

test('room links: created with a fresh secret in the fragment, parsed back, bad links refused', async () => {
  const page = await openParticipant(env.browser, `${env.worker.origin}/`, { label: 'links' });
  await dumpOnFailure([page], async () => {
    const result = await page.page.evaluate(async () => {
      const { createRoomLink, roomSecretFromLink, joinCall, roomIdFor } = await import('/pkg/sotto.js');
      const one = await createRoomLink('https://example.test/call?lang=en');
      const two = await createRoomLink('https://example.test/call?lang=en');
      const secret = roomSecretFromLink(one);
      const codeOf = async (fn) => { try { await fn(); return 'no error'; } catch (e) { return e.code; } };
      return {
        secret, differ: one !== two,
        keepsBase: one.startsWith('https://example.test/call?lang=en#'),
        roomId: await roomIdFor(secret),
        noFragment: await codeOf(() => roomSecretFromLink('https://example.test/call')),
        shortFragment: await codeOf(() => roomSecretFromLink('https://example.test/#abc')),
        notUrl: await codeOf(() => roomSecretFromLink('not a url')),
        joinBadLink: await codeOf(() => joinCall({ link: 'https://example.test/#nope' })),
        badSecret: await codeOf(() => roomIdFor('not a secret')),
        // roomIdFor runs on WebCrypto in the page; the crypto worker derives the id in wasm
        pageAndWorkerAgree: (await roomIdFor(location.hash.slice(1))) === window.sotto.call?.roomId,
      };
    });
    assert.match(result.secret, /^[A-Za-z0-9_-]{43}$/, 'the fragment is a 32-byte secret');
    assert.ok(result.differ, 'each new link has its own secret');
    assert.ok(result.keepsBase, 'the link keeps the page address and query');
    assert.ok(!result.roomId.includes(result.secret), 'the room id is not the secret');
    assert.deepEqual([result.noFragment, result.shortFragment, result.notUrl, result.joinBadLink], ['bad-room-link', 'bad-room-link', 'bad-room-link', 'bad-room-link']);
    assert.equal(result.badSecret, 'bad-encoding', 'roomIdFor refuses what is not a secret');
    assert.ok(result.pageAndWorkerAgree, 'roomIdFor (WebCrypto, page) gives the room id the crypto worker derived (wasm) and joined with');
    console.log('room links: fresh 43-character secrets in the fragment, page address kept, 4 bad links refused with bad-room-link');
  });
  await page.context.close();
});

test('chat: every message reaches everyone, in order per sender; too large or empty is refused', async () => {
  const a = await openParticipant(env.browser, `${env.worker.origin}/`, { label: 'A' });
  const b = await openParticipant(env.browser, a.page.url(), { label: 'B' });
  const c = await openParticipant(env.browser, a.page.url(), { label: 'C' });
  await dumpOnFailure([a, b, c], async () => {
    const everyoneOpen = () => window.sotto.call.participants.size === 2
      && [...window.sotto.call.participants.values()].every((p) => p.connectionState === 'connected');
    for (const p of [a, b, c]) await waitInPage(p.page, everyoneOpen, Boolean, { timeoutMs: 30_000 });
    const count = 25;
    // A and B send at the same time, as fast as they can.
    const sent = await Promise.all([a, b].map((p) => p.page.evaluate(async ({ n, label }) => {
      const delivered = [];
      for (let i = 0; i < n; i += 1) {
        // The chat channels may still be opening right after the connection: retry briefly.
        for (let attempt = 0; ; attempt += 1) {
          try {
            delivered.push(await window.sotto.call.sendChat(`${label}-${i}`));
            break;
          } catch (error) {
            if (error.code !== 'no-peers' || attempt > 50) throw error;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }
      return delivered;
    }, { n: count, label: p.label })));
    for (const delivered of sent) assert.ok(delivered.every((n) => n === 2), `each message was handed to both others: ${delivered}`);
    const textsAt = (p) => p.page.evaluate(() => window.sotto.events.filter((e) => e.type === 'chat').map((e) => e.detail.text));
    for (const [receiver, senders] of [[a, ['B']], [b, ['A']], [c, ['A', 'B']]]) {
      const texts = await waitInPage(receiver.page, () => window.sotto.events.filter((e) => e.type === 'chat').length, (n) => n >= senders.length * count, { timeoutMs: 10_000 }).then(() => textsAt(receiver));
      for (const sender of senders) {
        const fromSender = texts.filter((t) => t.startsWith(`${sender}-`));
        assert.deepEqual(fromSender, Array.from({ length: count }, (_, i) => `${sender}-${i}`), `${receiver.label} got ${sender}'s messages, all and in order`);
      }
    }
    const refused = await a.page.evaluate(async () => {
      const codeOf = (text) => window.sotto.call.sendChat(text).then(() => 'sent', (e) => e.code);
      return [await codeOf(''), await codeOf('x'.repeat(16 * 1024 + 1))];
    });
    assert.deepEqual(refused, ['bad-argument', 'chat-too-large'], 'empty and oversized messages are refused with their codes');
    console.log(`chat: ${count} messages each from A and B, sent concurrently, reached everyone in order; empty and oversized refused`);
  });
  for (const p of [a, b, c]) await p.context.close();
});
