// Sotto's promise under attack, in real Chromium against the real local worker: a malicious
// or recording server, tampered and replayed media, membership changes, faults, and a
// hostile client. Each scenario prints one line.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from './lib/worker.mjs';
import { startRecordingProxy } from './lib/proxy.mjs';
import { launchChromium, openParticipant, waitInPage } from './lib/browser.mjs';
import { encodings, findAny } from './lib/needles.mjs';
import { cryptoStats, dumpOnFailure, mediaStats } from './lib/probes.mjs';
import { hostileBinary, hostileFrames } from './lib/hostile.mjs';

let worker;
let proxy;
let browser;
const opened = [];

before(async () => {
  worker = await startWorker();
  proxy = await startRecordingProxy({ upstream: worker.origin });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await proxy?.stop();
  await worker?.stop();
});

async function participant(url, label) {
  const p = await openParticipant(browser, url, { label });
  opened.push(p);
  return p;
}

async function closeAll() {
  for (const p of opened.splice(0)) await p.context.close().catch(() => {});
  proxy.hooks.rewriteMessage = undefined;
  proxy.hooks.rewriteUrl = undefined;
}

/** Waits until `p` decodes at least `frames` frames from each of `peers` remote participants. */
async function decodingFrom(p, peers, frames = 20, timeoutMs = 30_000) {
  const stats = await waitInPage(p.page, mediaStats, (s) => Object.keys(s).length === peers && Object.values(s).every((e) => e.framesDecoded >= frames), { timeoutMs });
  assert.equal(Object.keys(stats).length, peers, `${p.label} sees ${peers} peers: ${JSON.stringify(stats)}`);
  for (const entry of Object.values(stats)) assert.ok(entry.framesDecoded >= frames, `${p.label} decodes: ${JSON.stringify(stats)}`);
  return stats;
}

const totalDecoded = (stats) => Object.values(stats).reduce((n, e) => n + e.framesDecoded, 0);
const peerIdOf = (p) => p.page.evaluate(() => window.sotto.call.peerId);
const exportKeys = (p) => p.page.evaluate(() => window.sotto.call.exportKeysForTesting());

test('malicious server substituting identity keys: nobody decrypts, clients report it, safety codes differ', async () => {
  // The attacker replaces every identity key the server hands out with its own.
  const attackerKey = Buffer.alloc(32, 7).toString('base64url');
  proxy.hooks.rewriteMessage = ({ direction, text }) => {
    if (direction !== 'to-client') return text;
    const message = JSON.parse(text);
    if (message.type === 'welcome') for (const p of message.peers) p.identity = attackerKey;
    if (message.type === 'peer-joined') message.peer.identity = attackerKey;
    return JSON.stringify(message);
  };
  const a = await participant(`${proxy.origin}/`, 'A');
  const b = await participant(a.page.url(), 'B');
  await dumpOnFailure([a, b], async () => {
    for (const p of [a, b]) {
      const stats = await waitInPage(p.page, mediaStats, (s) => Object.values(s)[0]?.videoPacketsReceived >= 100, { timeoutMs: 30_000 });
      await p.page.waitForTimeout(500);
      const now = await p.page.evaluate(mediaStats);
      assert.ok(Object.values(stats)[0].videoPacketsReceived >= 100, `${p.label} receives (encrypted) video`);
      assert.equal(totalDecoded(now), 0, `${p.label} decodes nothing`);
      const crypto = await p.page.evaluate(cryptoStats);
      assert.ok(crypto.crypto.encrypted > 0, `${p.label} sent only encrypted frames`);
      assert.equal(crypto.crypto.decrypted, 0, `${p.label} decrypted nothing`);
      const errors = await p.page.evaluate(() => window.sotto.events.filter((e) => e.type === 'error').map((e) => e.detail.code));
      assert.ok(errors.length > 0, `${p.label} reported the rejected key`);
    }
    // Even if the attacker also had the link, the people would see different safety codes.
    const [codeA, codeB] = await Promise.all([a, b].map((p) => p.page.evaluate(() => window.sotto.call.safetyCode())));
    assert.notEqual(codeA.digits, codeB.digits, 'substituted keys change the safety code');
    console.log(`mitm: 0 frames decoded on both sides, keys rejected, safety codes differ (${codeA.words.slice(0, 3).join(' ')}… vs ${codeB.words.slice(0, 3).join(' ')}…)`);
  });
  await closeAll();
});

test('a recording server sees no key, no room secret, no chat text and no media in a three-party call', async () => {
  proxy.clear();
  const a = await participant(`${proxy.origin}/`, 'A');
  const link = a.page.url();
  const b = await participant(link, 'B');
  const c = await participant(link, 'C');
  const marker = `sotto-marker-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  await dumpOnFailure([a, b, c], async () => {
    for (const p of [a, b, c]) await decodingFrom(p, 2);
    for (const p of [a, b, c]) {
      const delivered = await p.page.evaluate((text) => window.sotto.call.sendChat(text), `${marker} from ${p.label}`);
      assert.equal(delivered, 2, `${p.label}'s chat went to both others`);
    }
    for (const p of [a, b, c]) {
      const chats = await waitInPage(p.page, () => window.sotto.events.filter((e) => e.type === 'chat').map((e) => e.detail.text), (t) => t.length >= 2);
      assert.equal(chats.filter((t) => t.startsWith(marker)).length, 2, `${p.label} read both others' messages`);
    }
    const keys = await Promise.all([a, b, c].map(exportKeys));
    const secret = new URL(link).hash.slice(1);
    const needles = [marker, ...encodings(Buffer.from(marker)), secret, ...encodings(Buffer.from(secret, 'base64url')),
      ...keys.flatMap((k) => [k.sender, ...k.receive]).flatMap((hex) => encodings(Buffer.from(hex, 'hex')))];
    const texts = proxy.record.messages.map((m) => m.text ?? '');
    assert.ok(texts.length > 10 && texts.some((t) => t.includes('sender-key')), 'the recording holds the relayed signaling');
    assert.equal(findAny([...texts, ...proxy.record.requests.map((r) => JSON.stringify(r))], needles), null, 'nothing secret reached the server');
    assert.equal(proxy.record.messages.filter((m) => m.bytes).length, 0, 'no binary (media) frame ever reached the server');
    // Media keeps flowing peer to peer while the server's traffic stays flat.
    const relayed = () => proxy.record.messages.reduce((n, m) => n + (m.text?.length ?? m.bytes.length), 0);
    const mediaAtB = async () => Object.values(await b.page.evaluate(mediaStats)).reduce((n, e) => n + e.bytesReceived, 0);
    const [relayed0, media0] = [relayed(), await mediaAtB()];
    await b.page.waitForTimeout(3000);
    const [relayed1, media1] = [relayed(), await mediaAtB()];
    assert.ok(media1 - media0 > 100_000, `media flowed (${media1 - media0} bytes at B in 3 s)`);
    assert.ok(relayed1 - relayed0 < 4_000, `the server carried no media meanwhile (${relayed1 - relayed0} bytes)`);
    const relayedBytes = relayed1;
    console.log(`recording: ${texts.length} messages (${relayedBytes} bytes) and ${proxy.record.requests.length} requests hold none of ${needles.length} secret encodings; chat delivered 6/6`);
  });
  await closeAll();
});

test('tampered and replayed frames are dropped and counted; the call goes on', async () => {
  const a = await participant(`${proxy.origin}/`, 'A');
  const b = await participant(a.page.url(), 'B');
  await dumpOnFailure([a, b], async () => {
    await decodingFrom(b, 1);
    const before = await b.page.evaluate(cryptoStats);
    await a.page.evaluate(() => window.sotto.call.testAttack({ flipEvery: 13, replayEvery: 17 }));
    await b.page.waitForTimeout(3000);
    const decodedBefore = totalDecoded(await b.page.evaluate(mediaStats));
    await b.page.waitForTimeout(1500);
    const decodedAfter = totalDecoded(await b.page.evaluate(mediaStats));
    const after = await b.page.evaluate(cryptoStats);
    const attack = await a.page.evaluate(() => window.sotto.call.testAttackStats());
    assert.ok(attack.flipped > 0 && attack.replayed > 0, `the attacker tampered (${JSON.stringify(attack)})`);
    const authDrops = after.crypto.dropped_auth - before.crypto.dropped_auth;
    const replayDrops = after.crypto.dropped_replay - before.crypto.dropped_replay;
    assert.ok(authDrops > 0, `tampered frames dropped as unauthentic (${JSON.stringify(after.crypto)})`);
    assert.ok(replayDrops > 0, `replayed frames dropped as replays (${JSON.stringify(after.crypto)})`);
    assert.ok(decodedAfter > decodedBefore, 'the call keeps decoding');
    console.log(`tamper: ${attack.flipped} flipped and ${attack.replayed} replayed frames; receiver dropped ${authDrops} unauthentic and ${replayDrops} replays, kept decoding (${decodedBefore} -> ${decodedAfter})`);
  });
  await closeAll();
});

test('membership: a leaver cannot decrypt what follows, a joiner cannot decrypt what came before', async () => {
  const a = await participant(`${proxy.origin}/`, 'A');
  const link = a.page.url();
  const b = await participant(link, 'B');
  const c = await participant(link, 'C');
  await dumpOnFailure([a, b, c], async () => {
    for (const p of [a, b, c]) await decodingFrom(p, 3 - 1);
    const aId = await peerIdOf(a);
    const cKeys = await exportKeys(c);
    const epochBefore = await a.page.evaluate(() => window.sotto.call.epoch);
    // C vanishes abruptly (page closed, no goodbye).
    const leftAt = Date.now();
    await c.context.close();
    opened.splice(opened.indexOf(c), 1);
    await waitInPage(b.page, (id) => window.sotto.call.participants.get(id)?.epoch, (e) => e > epochBefore, { arg: aId, timeoutMs: 15_000 });
    const rotatedIn = Date.now() - leftAt;
    // A switches to its new key once every remaining peer acknowledged it (two-phase rotation).
    const epochAfter = await waitInPage(a.page, () => window.sotto.call.epoch, (e) => e > epochBefore, { timeoutMs: 5000 });
    assert.ok(epochAfter > epochBefore, 'A rotated its sender key');
    await decodingFrom(b, 1);
    await a.page.evaluate(() => window.sotto.call.testCapture(15));
    await a.page.waitForTimeout(1500);
    const afterLeave = await a.page.evaluate(() => window.sotto.call.testCaptured());
    assert.ok(afterLeave.length >= 10, 'captured frames A sent after C left');
    const bKeys = await exportKeys(b);
    const control = await b.page.evaluate(([k, from, f]) => window.sotto.call.testDecryptWith(k, from, f), [bKeys.receive, aId, afterLeave]);
    assert.equal(control.ok, afterLeave.length, 'control: B\'s keys open those frames');
    const byC = await b.page.evaluate(([k, from, f]) => window.sotto.call.testDecryptWith(k, from, f), [cKeys.receive, aId, afterLeave]);
    assert.equal(byC.ok, 0, 'none of C\'s keys opens a frame sent after C left');

    // D joins; frames from before D joined stay closed to D.
    const d = await participant(link, 'D');
    await decodingFrom(d, 2);
    const dKeys = await exportKeys(d);
    const byD = await b.page.evaluate(([k, from, f]) => window.sotto.call.testDecryptWith(k, from, f), [dKeys.receive, aId, afterLeave]);
    assert.equal(byD.ok, 0, 'none of D\'s keys opens a frame sent before D joined');
    console.log(`membership: leaver noticed and keys rotated in ${rotatedIn} ms; C's ${cKeys.receive.length} keys open 0/${afterLeave.length} later frames, D's open 0/${afterLeave.length} earlier ones, B's open ${control.ok}/${afterLeave.length}`);
  });
  await closeAll();
});

test('faults: a worker restart does not stop the call; clients rejoin within 5 s and a newcomer can join', async () => {
  const a = await participant(`${proxy.origin}/`, 'A');
  const link = a.page.url();
  const b = await participant(link, 'B');
  await dumpOnFailure([a, b], async () => {
    await decodingFrom(a, 1);
    await decodingFrom(b, 1);
    const port = worker.port;
    await worker.stop();
    proxy.dropAll();
    const decodedDuringOutage = totalDecoded(await a.page.evaluate(mediaStats));
    await a.page.waitForTimeout(1000);
    assert.ok(totalDecoded(await a.page.evaluate(mediaStats)) > decodedDuringOutage, 'media keeps flowing without the server');
    worker = await startWorker({ port });
    const restartedAt = await a.page.evaluate(() => performance.now());
    for (const p of [a, b]) {
      const back = await waitInPage(p.page, (t) => window.sotto.events.some((e) => e.type === 'signaling-state' && e.detail.state === 'connected' && e.at >= t), Boolean, { arg: restartedAt - 2000, timeoutMs: 5000 });
      assert.ok(back, `${p.label} rejoined signaling within 5 s of the restart`);
    }
    const e = await participant(link, 'E');
    await decodingFrom(e, 2);
    const aStats = await a.page.evaluate(mediaStats);
    assert.equal(Object.keys(aStats).length, 2, 'A kept B and got E');
    console.log('faults: media flowed through the outage, both clients rejoined within 5 s, a newcomer joined after the restart');
  });
  await closeAll();
});

test('a hostile client sending malformed signaling does not disturb a running call', async () => {
  const a = await participant(`${proxy.origin}/`, 'A');
  const b = await participant(a.page.url(), 'B');
  await dumpOnFailure([a, b], async () => {
    await decodingFrom(b, 1);
    const roomId = await a.page.evaluate(() => window.sotto.call.roomId);
    const hostile = await browser.newContext();
    const page = await hostile.newPage();
    await page.goto(`${proxy.origin}/app.css`);
    const before = totalDecoded(await b.page.evaluate(mediaStats));
    const replies = await page.evaluate(async ({ origin, roomId, frames, binary }) => {
      const url = `${origin.replace('http', 'ws')}/ws/room/${roomId}`;
      const results = [];
      const open = () => new Promise((resolve) => {
        const ws = new WebSocket(url);
        ws.binaryType = 'arraybuffer';
        const inbox = [];
        ws.onmessage = (m) => inbox.push(typeof m.data === 'string' ? m.data : '<binary>');
        ws.onopen = () => resolve({ ws, inbox });
        ws.onerror = () => resolve({ ws, inbox });
      });
      let conn = await open();
      conn.ws.send(JSON.stringify({ v: 1, type: 'join', peer: 'hostile-1', identity: 'AAAA' }));
      for (const frame of [...frames, ...binary.map((b) => new Uint8Array(b))]) {
        if (conn.ws.readyState !== WebSocket.OPEN) {
          results.push({ closed: true });
          conn = await open();
          conn.ws.send(JSON.stringify({ v: 1, type: 'join', peer: `hostile-${results.length}`, identity: 'AAAA' }));
          await new Promise((r) => setTimeout(r, 50));
        }
        const seen = conn.inbox.length;
        conn.ws.send(frame);
        await new Promise((r) => setTimeout(r, 60));
        results.push({ reply: conn.inbox.slice(seen).join(' ').slice(0, 120), open: conn.ws.readyState === WebSocket.OPEN });
      }
      conn.ws.close();
      return results;
    }, { origin: proxy.origin, roomId, frames: hostileFrames, binary: hostileBinary.map((b) => [...b]) });
    const answered = replies.filter((r) => r.closed || /"error"/.test(r.reply ?? '') || r.open === false).length;
    await b.page.waitForTimeout(1000);
    const afterDecoded = totalDecoded(await b.page.evaluate(mediaStats));
    assert.ok(afterDecoded > before, 'the call kept decoding');
    for (const p of [a, b]) {
      const stats = await p.page.evaluate(mediaStats);
      const connected = await p.page.evaluate(() => [...window.sotto.call.participants.values()].filter((x) => x.connectionState === 'connected').length);
      assert.ok(connected >= 1, `${p.label} still connected to its peer (${JSON.stringify(stats)})`);
    }
    assert.ok(answered >= hostileFrames.length * 0.8, `the worker answered the hostile inputs with errors or closes (${answered}/${replies.length})`);
    await hostile.close();
    console.log(`hostile client: ${replies.length} malformed inputs, ${answered} refused with an error or close; the call kept decoding (${before} -> ${afterDecoded})`);
  });
  await closeAll();
});
