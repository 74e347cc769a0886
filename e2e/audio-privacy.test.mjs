// What audio reveals of speech besides its content (issue 11, item 6): with variable-bitrate
// Opus the size of every frame follows the voice, and the RTP audio-level header extension
// carries the level in the clear in every packet. Sotto negotiates constant-bitrate Opus
// (`cbr=1`) by default and removes the audio-level extensions from every description. Checked
// on the negotiated descriptions and on the sizes of the clear Opus frames the encrypt
// transform gets while Chromium's fake microphone alternates beeps and silence; the same
// measurement with `constantBitrateAudio: false` shows the sizes it would otherwise leak.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INSTRUMENT_RESOURCES, openParticipant, waitInPage } from './lib/browser.mjs';
import { workerAndChromium } from './lib/fixture.mjs';
import { dumpOnFailure, mediaStats } from './lib/probes.mjs';

const env = workerAndChromium();

// The descriptions of every live connection in the page.
const descriptions = () => window.__resources.pcs.filter((pc) => pc.signalingState !== 'closed')
  .flatMap((pc) => [pc.localDescription?.sdp ?? '', pc.remoteDescription?.sdp ?? '']);

function opusFmtp(sdp) {
  const pts = [...sdp.matchAll(/^a=rtpmap:(\d+) opus\//gim)].map((m) => m[1]);
  return pts.map((pt) => sdp.match(new RegExp(`^a=fmtp:${pt} (.*)$`, 'm'))?.[1] ?? '');
}

async function audioFrameSizes(options) {
  const a = await openParticipant(env.browser, `${env.worker.origin}/`, { label: 'A', initScripts: [INSTRUMENT_RESOURCES], options });
  const b = await openParticipant(env.browser, a.page.url(), { label: 'B', initScripts: [INSTRUMENT_RESOURCES], options });
  let result;
  try {
    await dumpOnFailure([a, b], async () => {
      await waitInPage(b.page, mediaStats, (s) => Object.values(s)[0]?.audioPacketsReceived >= 100, { timeoutMs: 30_000 });
      // 150 frames of 20 ms: three seconds of the fake microphone's beeps and silences.
      await a.page.evaluate(() => window.sotto.call.testAudioSizes(150));
      const sizes = await waitInPage(a.page, () => window.sotto.call.testAudioSizes(), (x) => x.length >= 150, { timeoutMs: 10_000 });
      assert.equal(sizes.length, 150, 'A recorded 150 audio frames');
      result = { sizes, sdp: [...await a.page.evaluate(descriptions), ...await b.page.evaluate(descriptions)] };
    });
    return result;
  } finally {
    await a.context.close();
    await b.context.close();
  }
}

const summary = (sizes) => {
  const counts = {};
  for (const n of sizes) counts[n] = (counts[n] ?? 0) + 1;
  return { min: Math.min(...sizes), max: Math.max(...sizes), distinct: Object.keys(counts).length, counts };
};

test('constant-bitrate Opus and no audio-level extension: audio frame sizes do not follow the sound', async () => {
  const cbr = await audioFrameSizes(undefined);
  assert.equal(cbr.sdp.length, 4, 'two live connections, local and remote descriptions');
  for (const sdp of cbr.sdp) {
    assert.ok(opusFmtp(sdp).length > 0 && opusFmtp(sdp).every((f) => /(^|;)cbr=1(;|$)/.test(f)), `Opus has cbr=1: ${opusFmtp(sdp)}`);
    assert.doesNotMatch(sdp, /ssrc-audio-level|csrc-audio-level/, 'no audio-level header extension negotiated');
  }
  const constant = summary(cbr.sizes);

  const vbr = await audioFrameSizes({ constantBitrateAudio: false });
  for (const sdp of vbr.sdp) assert.ok(opusFmtp(sdp).every((f) => !/cbr=1/.test(f)), 'the control call negotiated variable bitrate');
  const variable = summary(vbr.sizes);
  // The control proves the measurement sees what VBR leaks: sizes spread with the sound.
  assert.ok(variable.max >= 1.5 * variable.min && variable.distinct >= 5, `with variable bitrate the sizes follow the sound: ${JSON.stringify(variable)}`);
  assert.ok(constant.max - constant.min <= 1, `with constant bitrate every frame has the same size: ${JSON.stringify(constant)}`);
  console.log(`audio privacy: cbr=1 and no audio-level extension in all 4 descriptions; 150 frames sized ${constant.min}-${constant.max} bytes (${constant.distinct} distinct) with CBR vs ${variable.min}-${variable.max} (${variable.distinct} distinct) with VBR`);
});
