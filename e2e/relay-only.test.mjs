// The relay-only privacy mode (issue 13 item 4) in a real call: Debian's coturn in this test's
// network namespace (e2e/lib/coturn.mjs) with the worker's shared secret; two demo pages join
// with `privacy: 'relay'`. Each fetches TURN credentials from the signaling worker's origin,
// gathers relay candidates only, and the call runs through coturn: the selected candidate pair
// is relay/relay on both sides (getStats), every candidate and description one page received
// (after opening the envelopes) names only relay candidates, media flows both ways and every
// frame goes through the SFrame transforms. Control: the same pages without the option send
// and receive host candidates (so the checks above can fail).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startCoturn } from './lib/coturn.mjs';
import { startWorker } from './lib/worker.mjs';
import { INSTRUMENT_RESOURCES, launchChromium, openParticipant, waitInPage } from './lib/browser.mjs';
import { cryptoStats, dumpOnFailure, firstRemote, mediaStats } from './lib/probes.mjs';

let turn;
let worker;
let browser;

before(async () => {
  turn = await startCoturn();
  worker = await startWorker({ vars: { TURN_URLS: turn.url, TURN_SECRET: turn.secret } });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
  await turn?.stop();
});

// In a page: the selected pair's candidate types, and every remote description's candidates.
const paths = async () => {
  const out = [];
  for (const pc of window.__resources.pcs) {
    if (pc.connectionState === 'closed') continue;
    const stats = [...(await pc.getStats()).values()];
    const byId = new Map(stats.map((s) => [s.id, s]));
    const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
    const pair = transport && byId.get(transport.selectedCandidatePairId);
    const sdp = pc.currentRemoteDescription?.sdp ?? '';
    out.push({
      local: pair && byId.get(pair.localCandidateId)?.candidateType,
      remote: pair && byId.get(pair.remoteCandidateId)?.candidateType,
      remoteSdpTypes: [...sdp.matchAll(/a=candidate:\S+ \d \S+ \d+ \S+ \d+ typ (\S+)/g)].map((m) => m[1]),
    });
  }
  return out;
};

const typesOf = (candidates) => candidates.map((c) => / typ (\S+)/.exec(c)?.[1]);

// A joins through the API option; B through the demo's lobby (the relay-only switch and a name).
async function call(privacy) {
  const options = privacy ? { privacy } : undefined;
  const a = await openParticipant(browser, `${worker.origin}/`, { label: `A(${privacy ?? 'default'})`, initScripts: [INSTRUMENT_RESOURCES], options });
  const b = await openParticipant(browser, a.page.url(), { label: `B(${privacy ?? 'default'})`, initScripts: [INSTRUMENT_RESOURCES], join: false });
  if (privacy === 'relay') await b.page.check('#relay-only');
  await b.page.fill('#display-name', 'Bob through the lobby');
  await b.page.click('#join');
  await b.page.waitForFunction(() => window.sotto?.call?.roomId || document.querySelector('#error:not([hidden])'), null, { timeout: 20_000 });
  return [a, b];
}

test('relay-only: credentials from the worker, relay/relay selected on both sides, only relay candidates received, media both ways, SFrame on every frame', async () => {
  const allocationsBefore = turn.allocations();
  const [a, b] = await call('relay');
  await dumpOnFailure([a, b], async () => {
    for (const p of [a, b]) {
      const stats = await waitInPage(p.page, mediaStats, (s) => firstRemote(s).framesDecoded >= 30, { timeoutMs: 30_000 });
      assert.ok(firstRemote(stats).framesDecoded >= 30 && firstRemote(stats).audioPacketsReceived > 0, `${p.label} decodes the other's video and receives audio: ${JSON.stringify(stats)}`);
    }
    const summary = {};
    for (const p of [a, b]) {
      assert.equal(await p.page.evaluate(() => window.sotto.call.privacy), 'relay');
      const fetched = await p.page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.endsWith('/api/turn-credentials')));
      assert.ok(fetched.length >= 1, `${p.label} fetched TURN credentials from the worker's origin: ${fetched}`);
      const selected = await p.page.evaluate(paths);
      assert.equal(selected.length, 1, `${p.label} has one peer connection`);
      assert.deepEqual([selected[0].local, selected[0].remote], ['relay', 'relay'], `${p.label}: the selected pair is relay/relay (${JSON.stringify(selected)})`);
      assert.ok(selected[0].remoteSdpTypes.every((t) => t === 'relay'), `${p.label}: the remote description names only relay candidates (${selected[0].remoteSdpTypes})`);
      const added = await p.page.evaluate(() => window.sotto.call.testCandidatesAdded());
      assert.ok(added.length >= 1 && typesOf(added).every((t) => t === 'relay'), `${p.label}: every candidate received (after opening) is a relay candidate: ${JSON.stringify(added)}`);
      const crypto = await p.page.evaluate(cryptoStats);
      assert.ok(crypto.candidates.sentRelay >= 1 && crypto.candidates.receivedRelay >= 1, `${p.label} sent and received relay candidates: ${JSON.stringify(crypto.candidates)}`);
      assert.equal(crypto.candidates.sentOther + crypto.candidates.receivedOther, 0, `${p.label}: no host or server-reflexive candidate sent or received: ${JSON.stringify(crypto.candidates)}`);
      const media = firstRemote(await p.page.evaluate(mediaStats));
      const after = await p.page.evaluate(cryptoStats);
      assert.ok(after.frames.encrypt.video > 0 && after.frames.encrypt.audio > 0, `${p.label} encrypted audio and video`);
      assert.ok(after.crypto.decrypted >= media.framesDecoded, `${p.label}: the wasm decrypted every decoded frame`);
      summary[p.label] = { pair: `${selected[0].local}/${selected[0].remote}`, candidatesReceived: added.length, ...crypto.candidates, decoded: media.framesDecoded };
    }
    assert.match(await b.page.evaluate(() => document.querySelector('#privacy-mode').textContent), /Relay-only/, 'B\'s demo says it is relay-only');
    const idB = await b.page.evaluate(() => window.sotto.call.peerId);
    assert.equal(await waitInPage(a.page, (id) => window.sotto.call.participants.get(id)?.name, Boolean, { arg: idB, timeoutMs: 10_000 }), 'Bob through the lobby', 'A sees the name B typed in the lobby');
    const allocations = turn.allocations() - allocationsBefore;
    assert.ok(allocations >= 2, `coturn allocated for both (${allocations})`);
    console.log(`relay-only: ${JSON.stringify(summary)}; coturn allocations ${allocations}`);
  });
  await a.context.close();
  await b.context.close();
});

test('control: without the option the same pages send and receive host candidates (the relay checks can fail)', async () => {
  const [a, b] = await call(undefined);
  await dumpOnFailure([a, b], async () => {
    await waitInPage(b.page, mediaStats, (s) => firstRemote(s).framesDecoded >= 10, { timeoutMs: 30_000 });
    const added = await b.page.evaluate(() => window.sotto.call.testCandidatesAdded());
    const crypto = await b.page.evaluate(cryptoStats);
    assert.ok(typesOf(added).includes('host'), `a default call receives host candidates: ${JSON.stringify(added)}`);
    assert.ok(crypto.candidates.receivedOther >= 1, `counted as other than relay: ${JSON.stringify(crypto.candidates)}`);
    console.log(`control: default mode received ${added.length} candidates (${[...new Set(typesOf(added))].join(', ')}), ${JSON.stringify(crypto.candidates)}`);
  });
  await a.context.close();
  await b.context.close();
});

test('mixed: a relay-only participant with a default one accepts none of its host candidates (dropped, counted), sends only relay ones, and the call works through the default one\'s TURN credentials', async () => {
  const a = await openParticipant(browser, `${worker.origin}/`, { label: 'A(relay)', initScripts: [INSTRUMENT_RESOURCES], options: { privacy: 'relay' } });
  const b = await openParticipant(browser, a.page.url(), { label: 'B(default)', initScripts: [INSTRUMENT_RESOURCES] });
  await dumpOnFailure([a, b], async () => {
    const dropped = await waitInPage(a.page, () => window.sotto.call.cryptoStats().then((s) => s.candidates.dropped), (n) => n >= 1, { timeoutMs: 15_000 });
    assert.ok(dropped >= 1, `A dropped B's host candidates (${dropped})`);
    const added = await a.page.evaluate(() => window.sotto.call.testCandidatesAdded());
    assert.ok(typesOf(added).every((t) => t === 'relay'), `A handed its peer connection no candidate but relay ones: ${JSON.stringify(added)}`);
    const atB = await waitInPage(b.page, () => window.sotto.call.testCandidatesAdded(), (x) => x.length >= 1, { timeoutMs: 15_000 });
    assert.ok(atB.length >= 1 && typesOf(atB).every((t) => t === 'relay'), `B received only A's relay candidates: ${JSON.stringify(atB)}`);
    // B (default mode) also takes TURN credentials when the worker has them, so it offers relay
    // candidates as well: the two meet relay to relay, and media flows both ways.
    const decoding = await waitInPage(a.page, mediaStats, (s) => firstRemote(s).framesDecoded >= 10, { timeoutMs: 20_000 });
    const decodingAtB = await waitInPage(b.page, mediaStats, (s) => firstRemote(s).framesDecoded >= 10, { timeoutMs: 20_000 });
    const pair = await a.page.evaluate(paths);
    assert.ok(firstRemote(decoding).framesDecoded >= 10, `A (relay-only) decodes B's media: ${JSON.stringify(firstRemote(decoding))}`);
    assert.ok(firstRemote(decodingAtB).framesDecoded >= 10, `B (default) decodes A's media: ${JSON.stringify(firstRemote(decodingAtB))}`);
    console.log(`mixed: A dropped ${dropped} of B's candidates, handed ${added.length} relay ones on; B received ${atB.length} (${[...new Set(typesOf(atB))]}); A decoded ${firstRemote(decoding).framesDecoded ?? 0} of B's frames in 20 s; A's selected pair ${JSON.stringify(pair.map((p) => `${p.local}/${p.remote}`))}`);
  });
  await a.context.close();
  await b.context.close();
});
