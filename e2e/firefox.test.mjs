// Firefox in real encrypted calls: Debian's firefox-esr (puppeteer-core over WebDriver BiDi)
// with Debian's Chromium, against the real local worker. Each call is two participants: the
// first opens the room, the second joins with the link and offers (the newcomer offers:
// docs/wire-protocol.md), so "Firefox offers to Chromium" is Firefox's offer and Chromium's
// answer, the direction other SDKs get wrong. For each pair and video codec (VP8, VP9, AV1;
// audio is Opus in every call) both sides must decode video that passed the crypto worker:
// frames decrypted > 0 and >= frames decoded, no frame failed to authenticate or parse, the
// receiver decrypted what the sender encrypted (never more), every sender's frames went through
// its encrypt transform (the invariant's figures), and the offer came from the joiner.
//
// Firefox sends some frames several times in a row (measured on loopback: the same frame up
// to 11 times within 20 ms). The crypto core counts authentic copies of a frame accepted
// moments ago as `dropped_duplicate`, apart from `dropped_replay`: no replay may be counted in
// these calls, where nobody replays anything. Duplicates are printed per direction. The last
// test shows the same counters do count replays in media from Firefox.
//
// What the calls showed goes to target/browser-support/firefox.json, from which
// scripts/browser-support.mjs renders the README's browser-support table.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from './lib/worker.mjs';
import { launchChromium, openParticipant, waitInPage } from './lib/browser.mjs';
import { browserVersion, launchFirefox, openFirefoxParticipant } from './lib/firefox.mjs';
import { cryptoStats, dumpOnFailure, firstRemote, mediaStats } from './lib/probes.mjs';
import { supportRecorder } from './lib/support.mjs';

// H.264: Debian's Firefox has no OpenH264 plugin offline, so a call with Firefox asked for
// H.264 negotiates VP8 (either is accepted there, and the table says which it was).
const CODECS = ['VP8', 'VP9', 'AV1', 'H264'];
// [who opens the room and answers, who joins and offers]
const PAIRS = [
  ['Firefox', 'Chromium'],
  ['Chromium', 'Firefox'],
  ['Firefox', 'Firefox'],
  ['Chromium', 'Chromium'],
];
const FRAMES = 20;

const env = { worker: null, Chromium: null, Firefox: null };
const support = supportRecorder('firefox');

before(async () => {
  env.worker = await startWorker();
  env.Chromium = await launchChromium();
  env.Firefox = await launchFirefox();
  support.browser('Chromium', { build: `Debian chromium ${env.Chromium.version()}` });
  support.browser('Firefox', { build: `Debian firefox-esr ${(await env.Firefox.version()).replace(/^firefox\//, '')}` });
});

after(async () => {
  // A run filtered to tests without calls (--test-name-pattern) leaves the last results alone.
  const file = support.calls.length > 0 ? support.write() : '(no calls: not written)';
  // Duplicate deliveries per receiving side and sender, over every call that passed.
  const totals = new Map();
  for (const c of support.calls.filter((x) => x.ok)) {
    for (const [me, other] of [[c.answererSide, c.offererSide], [c.offererSide, c.answererSide]]) {
      const key = `${me.browser} receiving from ${other.browser}`;
      const t = totals.get(key) ?? { calls: 0, duplicates: 0, replays: 0, framesDecrypted: 0 };
      t.calls += 1;
      t.duplicates += me.duplicates ?? 0;
      t.replays += me.replays;
      t.framesDecrypted += me.framesDecrypted + me.audioFramesDecrypted;
      totals.set(key, t);
    }
  }
  for (const [key, t] of totals) console.log(`duplicates: ${key}: ${t.duplicates} duplicate deliveries dropped (dropped_duplicate) and ${t.replays} replays, of ${t.framesDecrypted} frames through the receive transform, over ${t.calls} calls`);
  console.log(`browser support: ${file}`);
  await env.Firefox?.close();
  await env.Chromium?.close();
  await env.worker?.stop();
});

// Installed before the page's scripts: remembers the peer connections and the type of every
// local description set (who offered).
const RECORD_PEER_CONNECTIONS = () => {
  window.__pcs = [];
  window.__localDescriptions = [];
  const Original = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Original {
    constructor(...args) { super(...args); window.__pcs.push(this); }
  };
  const set = Original.prototype.setLocalDescription;
  Original.prototype.setLocalDescription = function (description, ...rest) {
    if (description?.type) window.__localDescriptions.push(description.type);
    return set.call(this, description, ...rest);
  };
};

// The received audio, from the browser's own statistics: codec and what the decoder produced.
async function receivedAudio() {
  const out = { codec: null, packets: 0, samples: 0, concealed: 0 };
  for (const pc of window.__pcs ?? []) {
    if (pc.connectionState !== 'connected') continue;
    const stats = await pc.getStats();
    for (const s of stats.values()) {
      if (s.type !== 'inbound-rtp' || s.kind !== 'audio') continue;
      out.packets += s.packetsReceived ?? 0;
      out.samples += s.totalSamplesReceived ?? 0;
      out.concealed += s.concealedSamples ?? 0;
      const codec = s.codecId ? stats.get(s.codecId) : null;
      if (codec) out.codec = codec.mimeType;
    }
  }
  return out;
}

function open(name, url, label, options) {
  const opts = { label, options, initScripts: [RECORD_PEER_CONNECTIONS] };
  return name === 'Firefox' ? openFirefoxParticipant(env.Firefox, url, opts) : openParticipant(env.Chromium, url, opts);
}

for (const codec of CODECS) {
  for (const [answerer, offerer] of PAIRS) {
    const name = answerer === offerer ? `${offerer} and ${offerer}` : `${offerer} offers to ${answerer}`;
    const withFirefox = answerer === 'Firefox' || offerer === 'Firefox';
    const accepted = codec === 'H264' && withFirefox ? ['H264', 'VP8'] : [codec];
    test(`${name}: encrypted ${accepted.join(' (or ')}${accepted.length > 1 ? ')' : ''} video and Opus audio decode both ways`, async () => {
      const options = { videoCodec: codec };
      const first = await open(answerer, `${env.worker.origin}/`, `${answerer[0]}1(${codec})`, options);
      const second = await open(offerer, first.page.url(), `${offerer[0]}2(${codec})`, options);
      const parties = [first, second];
      first.browser = answerer;
      second.browser = offerer;
      const entry = { answerer, offerer, codec, ok: false };
      try {
        await dumpOnFailure(parties, async () => {
          for (const p of parties) {
            assert.ok(await p.page.evaluate(() => window.sotto?.call?.roomId), `${p.label} joined: ${p.console.join('\n')}`);
            p.transform = await p.page.evaluate(() => window.sotto.call.frameTransform);
            assert.notEqual(p.transform, 'none', `${p.label} encrypts frames`);
            p.version = await browserVersion(p.page);
            const apis = await p.page.evaluate(() => ({
              RTCRtpScriptTransform: typeof RTCRtpScriptTransform === 'function',
              createEncodedStreams: typeof RTCRtpSender !== 'undefined' && 'createEncodedStreams' in RTCRtpSender.prototype,
            }));
            support.browser(p.browser, { version: p.version, transform: p.transform, apis });
          }
          // Both decode; then the figures, media first (a frame is decrypted before it is
          // decoded, so crypto counters read afterwards can only be ahead).
          for (const p of parties) {
            const media = firstRemote(await waitInPage(p.page, mediaStats, (s) => firstRemote(s).framesDecoded >= FRAMES, { timeoutMs: 40_000 }));
            assert.ok(media.framesDecoded >= FRAMES, `${p.label} decodes ${codec}: ${JSON.stringify(media)}`);
          }
          for (const p of parties) {
            // The invariant samples the senders every second: wait for one sample of both.
            await waitInPage(p.page, cryptoStats, (c) => c.invariant.checks > 0 && c.invariant.senders.length >= 2, { timeoutMs: 10_000 });
            p.media = firstRemote(await p.page.evaluate(mediaStats));
            p.audio = await waitInPage(p.page, receivedAudio, (a) => a.packets > 0 && a.samples > 0, { timeoutMs: 10_000 });
            p.crypto = await p.page.evaluate(cryptoStats);
            p.offers = await p.page.evaluate(() => window.__localDescriptions);
          }
          for (const me of parties) {
            const { media, crypto, audio } = me;
            assert.ok(accepted.map((c) => `video/${c}`).includes(media.videoCodec), `${me.label} negotiated ${accepted.join(' or ')}: ${media.videoCodec}`);
            assert.equal(media.videoCodec, first.media.videoCodec, 'both sides decode the same codec');
            assert.ok(crypto.frames.decrypt.video > 0 && crypto.frames.decrypt.video >= media.framesDecoded, `${me.label}: every decoded frame passed the decrypt transform (${JSON.stringify(crypto.frames)}, ${media.framesDecoded} decoded)`);
            assert.ok(crypto.crypto.decrypted >= media.framesDecoded, `${me.label}: the crypto core decrypted every decoded frame (${JSON.stringify(crypto.crypto)})`);
            assert.equal(crypto.crypto.dropped_auth + crypto.crypto.dropped_malformed + crypto.crypto.dropped_unknown_key, 0, `${me.label}: no frame failed to authenticate, parse or find its key (${JSON.stringify(crypto.crypto)})`);
            assert.equal(crypto.crypto.dropped_replay, 0, `${me.label}: nobody replayed anything, and no duplicate delivery was counted as a replay (${JSON.stringify(crypto.crypto)})`);
            assert.equal(audio.codec, 'audio/opus', `${me.label} received Opus: ${JSON.stringify(audio)}`);
            assert.ok(crypto.frames.decrypt.audio > 0 && audio.samples > 0, `${me.label} decrypted and decoded audio (${JSON.stringify(audio)}, ${JSON.stringify(crypto.frames)})`);
            // Every sender's frames went through its encrypt transform.
            const { invariant } = crypto;
            assert.equal(invariant.trips, 0, `${me.label}: the fail-open invariant never tripped (${JSON.stringify(invariant)})`);
            assert.deepEqual(invariant.senders.map((s) => s.kind).sort(), ['audio', 'video'], `${me.label} checked both senders: ${JSON.stringify(invariant)}`);
            for (const s of invariant.senders) assert.ok(s.sent > 0 && s.sent <= s.seen + 5 && !s.blocked, `${me.label}: sender ${JSON.stringify(s)} sent only what its transform saw`);
          }
          // The joiner offered, the room's opener answered.
          assert.equal(second.offers[0], 'offer', `${second.label} (joined second) offered: ${second.offers}`);
          assert.equal(first.offers[0], 'answer', `${first.label} (opened the room) answered: ${first.offers}`);
          // Receiver and sender, read in that order: received <= encrypted, and nearly all.
          for (const [me, other] of [[first, second], [second, first]]) {
            const fromOther = Object.values(me.crypto.crypto.peers ?? {})[0] ?? {};
            const later = await other.page.evaluate(cryptoStats);
            assert.ok(fromOther.decrypted > 0.8 * other.crypto.crypto.encrypted - 40, `${me.label} decrypted ${fromOther.decrypted} of the ${other.crypto.crypto.encrypted} frames ${other.label} had encrypted`);
            assert.ok(fromOther.decrypted <= later.crypto.encrypted, `${me.label} decrypted no more than ${other.label} encrypted`);
          }
        });
      } catch (error) {
        entry.error = String(error.message).split('\n')[0].slice(0, 200);
        support.call(entry);
        await Promise.all(parties.map((p) => p.context.close().catch(() => {})));
        throw error;
      }
      const side = (p) => ({
        browser: p.browser,
        version: p.version,
        transform: p.transform,
        framesDecoded: p.media.framesDecoded,
        framesDecrypted: p.crypto.frames.decrypt.video,
        audioFramesDecrypted: p.crypto.frames.decrypt.audio,
        audioSamplesDecoded: p.audio.samples,
        duplicates: p.crypto.crypto.dropped_duplicate ?? null,
        replays: p.crypto.crypto.dropped_replay,
      });
      Object.assign(entry, { ok: true, negotiated: first.media.videoCodec.replace('video/', ''), answererSide: side(first), offererSide: side(second) });
      support.call(entry);
      const line = (p, from) => `${p.label} decoded ${p.media.framesDecoded} ${entry.negotiated} frames from ${from.label} (${p.crypto.frames.decrypt.video} video + ${p.crypto.frames.decrypt.audio} Opus frames decrypted), duplicates ${p.crypto.crypto.dropped_duplicate ?? 'n/a (client without dropped_duplicate)'}, replays ${p.crypto.crypto.dropped_replay}`;
      console.log(`${name} ${codec} (negotiated ${entry.negotiated}) [${first.transform}/${second.transform}]: ${line(first, second)}; ${line(second, first)}`);
      await Promise.all(parties.map((p) => p.context.close()));
    });
  }
}

// The other half of the split: the same counters do see replays in media from Firefox. Firefox
// (the offerer) plays the attacker on its own encrypted output, sending every 17th video frame
// again in place of a new one (a copy 16 to 29 video frames old, i.e. well over DUPLICATE_SPAN
// counters with Opus in between): Chromium counts those as replays, not as duplicates, and
// keeps decoding.
test('Firefox offers to Chromium: replayed frames from Firefox are counted as replays, apart from its duplicate deliveries', async () => {
  const first = await open('Chromium', `${env.worker.origin}/`, 'C1(replay)');
  const second = await open('Firefox', first.page.url(), 'F2(replay)');
  try {
    await dumpOnFailure([first, second], async () => {
      await waitInPage(first.page, mediaStats, (s) => firstRemote(s).framesDecoded >= FRAMES, { timeoutMs: 40_000 });
      const before = (await first.page.evaluate(cryptoStats)).crypto;
      await second.page.evaluate(() => window.sotto.call.testAttack({ replayEvery: 17 }));
      const decodedBefore = firstRemote(await first.page.evaluate(mediaStats)).framesDecoded;
      await waitInPage(second.page, () => window.sotto.call.testAttackStats(), (a) => a.replayed >= 5, { timeoutMs: 20_000 });
      await new Promise((r) => setTimeout(r, 500)); // the last replayed frames arrive
      const attack = await second.page.evaluate(() => window.sotto.call.testAttackStats());
      const after = (await first.page.evaluate(cryptoStats)).crypto;
      const decodedAfter = firstRemote(await first.page.evaluate(mediaStats)).framesDecoded;
      const replays = after.dropped_replay - before.dropped_replay;
      const duplicates = after.dropped_duplicate - before.dropped_duplicate;
      assert.ok(attack.replayed >= 5, `Firefox replayed frames (${JSON.stringify(attack)})`);
      assert.ok(replays > 0 && replays <= attack.replayed && replays >= attack.replayed / 2, `Chromium counted ${replays} replays of the ${attack.replayed} frames Firefox replayed (${JSON.stringify(after)})`);
      assert.equal(after.dropped_auth + after.dropped_malformed, 0, `nothing failed to authenticate (${JSON.stringify(after)})`);
      assert.ok(decodedAfter > decodedBefore, `Chromium kept decoding (${decodedBefore} -> ${decodedAfter})`);
      console.log(`replay from Firefox: ${attack.replayed} frames replayed, Chromium counted ${replays} replays and ${duplicates} duplicate deliveries meanwhile, kept decoding (${decodedBefore} -> ${decodedAfter})`);
    });
  } finally {
    await Promise.all([first, second].map((p) => p.context.close().catch(() => {})));
  }
});
