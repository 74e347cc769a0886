// Recovery of the media path, in real Chromium against the real local worker: ICE restarts
// when loopback UDP is blackholed and comes back, and a participant whose browser freezes
// (SIGSTOP: nothing is closed, packets simply stop) is removed after the timeout, with keys
// rotated, and comes back into the call when it thaws. Runs only inside its own network
// namespace (the Makefile's `unshare -n`).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { INSTRUMENT_RESOURCES, launchChromiumProcess, openParticipant, waitInPage } from './lib/browser.mjs';
import { workerAndChromium } from './lib/fixture.mjs';
import { dumpOnFailure, mediaStats, readyCodes } from './lib/probes.mjs';
import { blockUdp, netfaultUnavailable, resetNetfault, unblockUdp } from './lib/netfault.mjs';

const unavailable = netfaultUnavailable();
const env = workerAndChromium({ skip: Boolean(unavailable) });
after(() => resetNetfault());

const eventsOf = (page, type) => page.evaluate((t) => window.sotto.events.filter((e) => e.type === t).map((e) => e.detail), type);
const decodedFrom = (page, peer) => page.evaluate(async (id) => (await window.sotto.call.mediaStats())[id]?.framesDecoded ?? 0, peer);
const peerIdOf = (p) => p.page.evaluate(() => window.sotto.call.peerId);

async function decodingGrows(page, peer, label, timeoutMs = 15_000) {
  const start = await decodedFrom(page, peer);
  const end = await waitInPage(page, async (id) => (await window.sotto.call.mediaStats())[id]?.framesDecoded ?? 0, (n) => n >= start + 15, { timeoutMs, arg: peer });
  assert.ok(end >= start + 15, `${label}: decoded frames grow (${start} -> ${end})`);
  return end - start;
}

test('ICE restart: UDP blackholed, then back; the call recovers without leaving or rekeying', { skip: unavailable ?? false }, async () => {
  const options = { iceRestartDelayMs: 1000, peerTimeoutMs: 60_000 };
  const a = await openParticipant(env.browser, `${env.worker.origin}/`, { label: 'A', initScripts: [INSTRUMENT_RESOURCES], options });
  const b = await openParticipant(env.browser, a.page.url(), { label: 'B', options });
  // The ICE credentials A's connection uses on both ends: an ICE restart changes them.
  const iceUfrags = () => a.page.evaluate(() => {
    const pc = window.__resources.pcs.at(-1);
    const ufrag = (sdp) => sdp?.match(/a=ice-ufrag:(\S+)/)?.[1] ?? null;
    return { local: ufrag(pc.localDescription?.sdp), remote: ufrag(pc.remoteDescription?.sdp) };
  });
  await dumpOnFailure([a, b], async () => {
    const [idA, idB] = [await peerIdOf(a), await peerIdOf(b)];
    await waitInPage(a.page, mediaStats, (s) => (s[idB]?.framesDecoded ?? 0) >= 20, { timeoutMs: 30_000 });
    await waitInPage(b.page, mediaStats, (s) => (s[idA]?.framesDecoded ?? 0) >= 20, { timeoutMs: 30_000 });
    const epochsBefore = [await a.page.evaluate(() => window.sotto.call.epoch), await b.page.evaluate(() => window.sotto.call.epoch)];
    const ufragsBefore = await iceUfrags();

    const blockedAt = Date.now();
    blockUdp();
    // B joined last, so B offered and B restarts; both see the path go down first.
    const restarts = await waitInPage(b.page, () => window.sotto.events.filter((e) => e.type === 'ice-restart').length, (n) => n >= 1, { timeoutMs: 20_000 });
    const restartAfterMs = Date.now() - blockedAt;
    assert.ok(restarts >= 1, `B restarted ICE while UDP was blocked (${restarts} restarts)`);
    const downStates = (await eventsOf(a.page, 'connection-state')).map((d) => d.state);
    assert.ok(downStates.includes('disconnected') || downStates.includes('failed'), `A saw the path go down: ${downStates.join(',')}`);
    const stalled = await decodedFrom(a.page, idB);
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(await decodedFrom(a.page, idB) - stalled < 5, 'no media while UDP is blackholed (the fault is real)');

    unblockUdp();
    const unblockedAt = Date.now();
    await waitInPage(a.page, () => window.sotto.events.filter((e) => e.type === 'connection-state').at(-1)?.detail.state, (s) => s === 'connected', { timeoutMs: 30_000 });
    const grownA = await decodingGrows(a.page, idB, 'A after recovery');
    const grownB = await decodingGrows(b.page, idA, 'B after recovery');
    const recoveredMs = Date.now() - unblockedAt;
    const ufragsAfter = await iceUfrags();
    assert.ok(ufragsAfter.local !== ufragsBefore.local && ufragsAfter.remote !== ufragsBefore.remote,
      `the same connection was renegotiated with new ICE credentials on both ends: ${JSON.stringify({ ufragsBefore, ufragsAfter })}`);
    assert.equal(await a.page.evaluate(() => window.__resources.pcs.length), 1, 'A kept its one peer connection (a restart, not a new call)');

    assert.deepEqual(await eventsOf(a.page, 'participant-left'), [], 'nobody left A\'s call');
    assert.deepEqual(await eventsOf(b.page, 'participant-left'), [], 'nobody left B\'s call');
    const epochsAfter = [await a.page.evaluate(() => window.sotto.call.epoch), await b.page.evaluate(() => window.sotto.call.epoch)];
    assert.deepEqual(epochsAfter, epochsBefore, 'an ICE restart is not a membership change: no new epoch');
    const restartsTotal = (await eventsOf(b.page, 'ice-restart')).length;
    console.log(`ice restart: first restart ${restartAfterMs} ms after UDP was blocked (${restartsTotal} attempts), media back ${recoveredMs} ms after unblocking (+${grownA}/+${grownB} frames), same epochs ${epochsAfter.join('/')}`);
  });
  await a.context.close();
  await b.context.close();
});

test('a participant whose browser freezes is removed after the timeout, keys rotate, and it rejoins when it thaws', { skip: unavailable ?? false }, async () => {
  const peerTimeoutMs = 6000;
  const options = { iceRestartDelayMs: 1000, peerTimeoutMs };
  const frozenBrowser = await launchChromiumProcess();
  const a = await openParticipant(env.browser, `${env.worker.origin}/`, { label: 'A', options });
  const b = await openParticipant(env.browser, a.page.url(), { label: 'B', options });
  const c = await openParticipant(frozenBrowser.browser, a.page.url(), { label: 'C', options });
  try {
    await dumpOnFailure([a, b, c], async () => {
      const [idA, idB, idC] = [await peerIdOf(a), await peerIdOf(b), await peerIdOf(c)];
      // C decoding A means A already sends under the key made when C joined (a newcomer never
      // gets an older one), so the epoch read next is not one still waiting for acks.
      for (const [page, from] of [[a.page, idC], [b.page, idC], [a.page, idB], [c.page, idA]]) {
        await waitInPage(page, mediaStats, (s) => (s[from]?.framesDecoded ?? 0) >= 15, { timeoutMs: 30_000 });
      }
      const epochA = await a.page.evaluate(() => window.sotto.call.epoch);

      frozenBrowser.freeze();
      const frozenAt = Date.now();
      const left = await waitInPage(a.page, (id) => window.sotto.events.find((e) => e.type === 'participant-left' && e.detail.peer === id)?.detail ?? null, (d) => d !== null, { timeoutMs: peerTimeoutMs + 20_000, arg: idC });
      const removedAfterMs = Date.now() - frozenAt;
      assert.deepEqual(left, { peer: idC, reason: 'vanished' }, 'A removed the frozen participant as vanished');
      const leftAtB = await waitInPage(b.page, (id) => window.sotto.events.find((e) => e.type === 'participant-left' && e.detail.peer === id)?.detail ?? null, (d) => d !== null, { timeoutMs: 10_000, arg: idC });
      assert.deepEqual(leftAtB, { peer: idC, reason: 'vanished' }, 'B removed the frozen participant as vanished');
      assert.ok(removedAfterMs >= peerTimeoutMs, `not removed before the timeout (${removedAfterMs} ms)`);

      // The new key is committed (key-epoch) only once B acknowledged it or the switch timeout
      // passed, so it may come a round trip after the participant-left event.
      const epochAfter = await waitInPage(a.page, () => window.sotto.call.epoch, (e) => e > epochA, { timeoutMs: 10_000 });
      assert.ok(epochAfter > epochA, `A rotated its sender key within 10 s of removing C (${epochA} -> ${epochAfter})`);
      const participants = await a.page.evaluate(() => [...window.sotto.call.participants.keys()]);
      assert.deepEqual(participants, [idB], 'only B is left in A\'s call');
      // The new key reached B: B keeps decoding A under the new epoch.
      await waitInPage(b.page, (id) => window.sotto.call.participants.get(id)?.epoch, (e) => e === epochAfter, { timeoutMs: 10_000, arg: idA });
      const grown = await decodingGrows(b.page, idA, 'B decodes A after the rotation');
      const errorsA = (await eventsOf(a.page, 'error')).map((e) => e.code);

      // C wakes up (the server still lists it: its socket never closed). Either C finds
      // everyone gone and rejoins signaling on purpose (A and B take it back as a newcomer), or
      // C's first offer or hello reaches A and B first, who kept it as dormant after the
      // vanish and take it back (the call core's way since issue 12); fresh keys both ways.
      const joinedBefore = (await eventsOf(a.page, 'participant-joined')).filter((d) => d.peer === idC).length;
      frozenBrowser.thaw();
      const thawedAt = Date.now();
      await waitInPage(a.page, (id) => window.sotto.events.filter((e) => e.type === 'participant-joined' && e.detail.peer === id).length, (n) => n > joinedBefore, { timeoutMs: peerTimeoutMs + 30_000, arg: idC });
      const signaling = (await c.page.evaluate(() => window.sotto.events.filter((e) => e.type === 'signaling-state').map((e) => e.detail.state)));
      const how = signaling.includes('resyncing') ? 'rejoined signaling on purpose' : 'was revived by A and B (kept dormant)';
      const rejoinedAtB = await waitInPage(b.page, (id) => window.sotto.events.filter((e) => e.type === 'participant-joined' && e.detail.peer === id).length, (n) => n >= 2, { timeoutMs: 20_000, arg: idC });
      assert.ok(rejoinedAtB >= 2, `B took C back too (${how})`);
      await waitInPage(a.page, mediaStats, (s) => (s[idC]?.framesDecoded ?? 0) >= 15, { timeoutMs: 30_000 });
      await waitInPage(c.page, mediaStats, (s) => (s[idA]?.framesDecoded ?? 0) >= 15 && (s[idB]?.framesDecoded ?? 0) >= 15, { timeoutMs: 30_000 });
      const healedMs = Date.now() - thawedAt;
      const codes = await readyCodes([a.page, b.page, c.page], () => window.sotto.call.safetyCode());
      assert.ok(codes[0] && codes[0] === codes[1] && codes[1] === codes[2], `all three agree on the safety code again, ready on each: ${codes} (${codes.states})`);
      console.log(`vanished peer: frozen participant removed ${removedAfterMs} ms after SIGSTOP (timeout ${peerTimeoutMs} ms), A rotated ${epochA} -> ${epochAfter}, B decodes A (+${grown} frames), errors at A: [${errorsA.join(',')}]; after SIGCONT it ${how} and media flowed all ways in ${healedMs} ms`);
    });
  } finally {
    await frozenBrowser.kill();
    await a.context.close();
    await b.context.close();
  }
});
