// A full mesh at the room limit: 8 participants (the default MAX_PEERS) in one room, each
// decoding every other's video through its own end-to-end keys, one safety code for all,
// and a 9th refused with `room-full`. Small pictures (160x120 at 10 fps) and no audio keep
// 56 encoders and 56 decoders within a 2-core machine: with audio on as well, the eight
// pages of one headless browser saturated both cores and the last connections timed out
// (audio is encrypted in every other test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openParticipant, waitInPage } from './lib/browser.mjs';
import { workerAndChromium } from './lib/fixture.mjs';
import { dumpOnFailure, readyCodes } from './lib/probes.mjs';

const ROOM_LIMIT = 8;
const env = workerAndChromium();

// Joins from the page's own code with a small camera picture; resolves with the peer id or
// the error code.
const joinSmall = (page) => page.evaluate(async () => {
  const { joinCall } = await import('/pkg/sotto.js');
  const localStream = await navigator.mediaDevices.getUserMedia({ audio: false, video: { width: 160, height: 120, frameRate: 10 } });
  try {
    window.call = await joinCall({ link: location.href, localStream });
    window.log = [];
    for (const type of ['participant-joined', 'participant-left', 'connection-state', 'ice-restart', 'error']) {
      window.call.addEventListener(type, ({ detail }) => window.log.push(`${Math.round(performance.now())} ${type} ${detail.peer?.slice(0, 4) ?? ''} ${detail.state ?? detail.reason ?? detail.code ?? ''}`));
    }
    return { peerId: window.call.peerId };
  } catch (error) {
    localStream.getTracks().forEach((t) => t.stop());
    return { code: error.code };
  }
});


test(`group mesh: ${ROOM_LIMIT} participants decode each other; the next one is refused`, async () => {
  const first = await openParticipant(env.browser, `${env.worker.origin}/`, { label: 'P1', join: false });
  await first.page.waitForFunction(() => location.hash.length > 40);
  const link = first.page.url();
  const people = [first];
  for (let i = 2; i <= ROOM_LIMIT; i += 1) people.push(await openParticipant(env.browser, link, { label: `P${i}`, join: false }));
  await dumpOnFailure(people, async () => {
    const started = Date.now();
    const ids = [];
    for (const p of people) {
      const joined = await joinSmall(p.page);
      assert.ok(joined.peerId, `${p.label} joined (${JSON.stringify(joined)})`);
      ids.push(joined.peerId);
    }

    // Everyone decodes video from every one of the other seven.
    const minimum = 10;
    for (const [i, p] of people.entries()) {
      const others = ids.filter((_, j) => j !== i);
      const decoded = await waitInPage(p.page, async () => {
        const stats = await window.call.mediaStats();
        return Object.fromEntries(Object.entries(stats).map(([id, s]) => [id, s.framesDecoded]));
      }, (d) => others.every((id) => (d[id] ?? 0) >= minimum), { timeoutMs: 60_000, intervalMs: 500 });
      const lagging = others.filter((id) => (decoded[id] ?? 0) < minimum);
      if (lagging.length) console.log(`${p.label} log:\n${(await p.page.evaluate(() => window.log)).join('\n')}`);
      assert.deepEqual(lagging, [], `${p.label} decodes all ${others.length} others: ${JSON.stringify(decoded)}`);
    }
    const meshMs = Date.now() - started;

    // Frames went through the encryption: each sender encrypted, nothing failed to authenticate.
    const crypto = await Promise.all(people.map((p) => p.page.evaluate(() => window.call.cryptoStats())));
    for (const [i, c] of crypto.entries()) {
      assert.ok(c.frames.encrypt.video > 0 && c.frames.decrypt.video >= (ROOM_LIMIT - 1) * minimum, `P${i + 1} encrypted and decrypted video: ${JSON.stringify(c.frames)}`);
      assert.equal(c.crypto.dropped_auth, 0, `P${i + 1} had no authentication failures`);
    }
    const codes = await readyCodes(people.map((p) => p.page), () => window.call.safetyCode(), 30_000);
    assert.ok(codes.every(Boolean) && new Set(codes).size === 1, `one safety code for all eight, ready on each: ${codes} (${codes.states})`);

    // The ninth is refused by the worker, and nobody inside notices.
    const ninth = await openParticipant(env.browser, link, { label: 'P9', join: false });
    const refused = await joinSmall(ninth.page);
    assert.deepEqual(refused, { code: 'room-full' }, 'the ninth participant is refused with room-full');
    const sizes = await Promise.all(people.map((p) => p.page.evaluate(() => window.call.participants.size)));
    assert.deepEqual(sizes, Array(ROOM_LIMIT).fill(ROOM_LIMIT - 1), 'everyone still sees seven others');
    await ninth.context.close();
    console.log(`group mesh: ${ROOM_LIMIT} participants, ${ROOM_LIMIT * (ROOM_LIMIT - 1)} encrypted video streams all decoding within ${meshMs} ms of the first join; one safety code; the 9th refused with room-full`);
  });
  for (const p of people) await p.context.close();
});
