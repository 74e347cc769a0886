// Sotto's promise under attack, in real Chromium against the real local worker: a malicious
// or recording server, tampered and replayed media, membership changes, faults, and a
// hostile client. Each scenario prints one line.
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from './lib/worker.mjs';
import { startRecordingProxy } from './lib/proxy.mjs';
import { INSTRUMENT_RESOURCES, launchChromium, openParticipant, waitInPage } from './lib/browser.mjs';
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

beforeEach(async () => closeAll());

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

test('malicious server substituting identities: without the room secret it brings nobody in; clients report it, nothing is offered or sent', async () => {
  // The attacker replaces every identity the server hands out with one it made (it has no room
  // secret: random bytes behind the v2 version byte), as it would to put its own key in place.
  const made = () => Buffer.concat([Buffer.from([2]), Buffer.from(Array.from({ length: 60 }, () => Math.floor(Math.random() * 256)))]).toString('base64url');
  let substituted = 0;
  proxy.hooks.rewriteMessage = ({ direction, text }) => {
    if (direction !== 'to-client') return text;
    const message = JSON.parse(text);
    if (message.type === 'welcome') for (const p of message.peers) { p.identity = made(); substituted += 1; }
    if (message.type === 'peer-joined') { message.peer.identity = made(); substituted += 1; }
    return JSON.stringify(message);
  };
  const a = await participant(`${proxy.origin}/`, 'A');
  const b = await participant(a.page.url(), 'B');
  await dumpOnFailure([a, b], async () => {
    const [idA, idB] = await Promise.all([a, b].map(peerIdOf));
    for (const [p, other] of [[a, idB], [b, idA]]) {
      const forged = await waitInPage(p.page, () => window.sotto.events.filter((e) => e.type === 'error' && e.detail.code === 'forged-participant').map((e) => e.detail.peer), (x) => x.length > 0, { timeoutMs: 15_000 });
      assert.deepEqual([...new Set(forged)], [other], `${p.label} refused the substituted identity of the other as forged`);
    }
    await a.page.waitForTimeout(3000);
    for (const p of [a, b]) {
      assert.deepEqual(await p.page.evaluate(() => [...window.sotto.call.participants.keys()]), [], `${p.label} shows nobody`);
      assert.deepEqual(await p.page.evaluate(mediaStats), {}, `${p.label} has no media path`);
      const crypto = await p.page.evaluate(cryptoStats);
      assert.ok(crypto.forgedParticipants >= 1, `${p.label} counted it (${crypto.forgedParticipants})`);
      assert.equal(crypto.crypto.decrypted, 0, `${p.label} decrypted nothing`);
    }
    const signals = proxy.record.messages.filter((m) => m.direction === 'to-server' && /"type":"signal"/.test(m.text ?? '') && [idA, idB].includes(m.peer));
    assert.equal(signals.length, 0, 'neither sent the other anything (no offer, no candidate, no key)');
    console.log(`mitm without the secret: ${substituted} identities substituted; each side refused the other as forged-participant (counted), 0 signals sent, no connection, nobody shown`);
  });
  await closeAll();
});

// What a page's peer connections hold that the signaling must never carry in clear: SDP
// (descriptions, DTLS fingerprints, ICE passwords) and ICE candidates with their addresses.
const peerSecrets = () => {
  const out = { sdps: [], fingerprints: [], icePwds: [], candidates: [], addresses: [] };
  for (const pc of window.__resources.pcs) {
    for (const d of [pc.localDescription, pc.currentRemoteDescription]) {
      if (!d?.sdp) continue;
      out.sdps.push(d.sdp);
      for (const [, fp] of d.sdp.matchAll(/a=fingerprint:\S+ ([0-9A-F:]+)/g)) out.fingerprints.push(fp);
      for (const [, pwd] of d.sdp.matchAll(/a=ice-pwd:(\S+)/g)) out.icePwds.push(pwd);
      for (const [, line, address] of d.sdp.matchAll(/a=(candidate:\S+ \d \S+ \d+ (\S+) \d+ typ \S+)/g)) { out.candidates.push(line); out.addresses.push(address); }
    }
  }
  return out;
};

test('a recording server sees no SDP, candidate, address, fingerprint, identity key, name, chat text, key or media in a three-party call with a screen share and a rejoin', async () => {
  proxy.clear();
  const suffix = Math.random().toString(36).slice(2, 10);
  const names = { A: `Alice Quokka ${suffix}`, B: `Bob Pangolin ${suffix}`, C: `Carol Axolotl ${suffix}`, C2: `Carol Again ${suffix}` };
  const join = async (url, label) => {
    const p = await openParticipant(browser, url, { label, initScripts: [INSTRUMENT_RESOURCES], options: { displayName: names[label] } });
    opened.push(p);
    return p;
  };
  const a = await join(`${proxy.origin}/`, 'A');
  const link = a.page.url();
  const b = await join(link, 'B');
  let c = await join(link, 'C');
  const marker = `sotto-marker-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  await dumpOnFailure([a, b, c], async () => {
    for (const p of [a, b, c]) await decodingFrom(p, 2);
    // Names arrive (sealed): each page shows the others' names.
    const idC = await peerIdOf(c);
    const shown = await waitInPage(a.page, (id) => window.sotto.call.participants.get(id)?.name, (n) => n !== null && n !== undefined, { arg: idC, timeoutMs: 10_000 });
    assert.equal(shown, names.C, 'A shows C\'s name');
    for (const p of [a, b, c]) {
      const delivered = await p.page.evaluate((text) => window.sotto.call.sendChat(text), `${marker} from ${p.label}`);
      assert.equal(delivered, 2, `${p.label}'s chat went to both others`);
    }
    for (const p of [a, b, c]) {
      const chats = await waitInPage(p.page, () => window.sotto.events.filter((e) => e.type === 'chat').map((e) => e.detail.text), (t) => t.length >= 2);
      assert.equal(chats.filter((t) => t.startsWith(marker)).length, 2, `${p.label} read both others' messages`);
    }
    // A shares its screen, C leaves and comes back (a new participant: new offers, keys, names).
    await a.page.evaluate(async () => { window.stopSharing = await window.sotto.call.shareScreen(); });
    const cKept = await c.page.evaluate(peerSecrets);
    const cIdentity = await c.page.evaluate(() => window.sotto.call.identity);
    await c.context.close();
    opened.splice(opened.indexOf(c), 1);
    c = await join(link, 'C2');
    for (const p of [a, b, c]) await decodingFrom(p, 2);
    const idC2 = await peerIdOf(c);
    assert.equal(await waitInPage(b.page, (id) => window.sotto.call.participants.get(id)?.name, (n) => n, { arg: idC2, timeoutMs: 10_000 }), names.C2, 'B shows the newcomer\'s name');
    await c.page.evaluate((text) => window.sotto.call.sendChat(text), `${marker} from C2`);
    await waitInPage(a.page, () => window.sotto.events.filter((e) => e.type === 'chat').length, (n) => n >= 3);
    await a.page.evaluate(() => window.stopSharing());
    await a.page.waitForTimeout(1000);

    // What the pages hold that the server must not see.
    const held = [...await Promise.all([a, b, c].map((p) => p.page.evaluate(peerSecrets))), cKept];
    const fingerprints = [...new Set(held.flatMap((h) => h.fingerprints))];
    const icePwds = [...new Set(held.flatMap((h) => h.icePwds))];
    const candidates = held.flatMap((h) => h.candidates);
    const addresses = [...new Set(held.flatMap((h) => h.addresses))];
    assert.ok(fingerprints.length >= 4 && icePwds.length >= 4 && candidates.length >= 4, `the pages negotiated (${fingerprints.length} fingerprints, ${icePwds.length} ICE passwords, ${candidates.length} candidates)`);
    const identities = [...await Promise.all([a, b, c].map((p) => p.page.evaluate(() => window.sotto.call.identity))), cIdentity];
    const keys = await Promise.all([a, b, c].map(exportKeys));
    const secret = new URL(link).hash.slice(1);
    const text = (t) => [t, ...encodings(Buffer.from(t))];
    const needles = {
      'chat text': text(marker),
      'display name': Object.values(names).flatMap(text),
      'identity public key': identities.flatMap((k) => encodings(Buffer.from(k, 'base64url'))),
      'DTLS fingerprint': fingerprints.flatMap((fp) => [fp, fp.toLowerCase(), ...encodings(Buffer.from(fp.replaceAll(':', ''), 'hex'))]),
      'ICE password': icePwds.flatMap(text),
      'room secret': [secret, ...encodings(Buffer.from(secret, 'base64url'))],
      'media key': keys.flatMap((k) => [k.sender, ...k.receive]).flatMap((hex) => encodings(Buffer.from(hex, 'hex'))),
    };
    const texts = proxy.record.messages.map((m) => m.text ?? '');
    const bytes = texts.reduce((n, t) => n + t.length, 0);
    assert.ok(texts.length > 30, `the recording holds the relayed signaling (${texts.length} messages)`);
    const haystacks = [...texts, ...proxy.record.requests.map((r) => r.url)];
    for (const [what, list] of Object.entries(needles)) assert.equal(findAny(haystacks, list), null, `no ${what} in anything the server relayed`);
    // Patterns, whatever the values: SDP, candidates, addresses (v4, v6, mDNS), fingerprints.
    const patterns = {
      SDP: /v=0|m=(audio|video|application)|a=(fingerprint|ice-ufrag|ice-pwd|setup|rtpmap|ssrc|mid)|\bsdp\b|"offer"|"answer"/,
      'ICE candidate': /candidate|typ (host|srflx|prflx|relay)|\bufrag\b/,
      'IPv4 literal': /\b\d{1,3}(\.\d{1,3}){3}\b/,
      'IPv6 literal': /\b[0-9a-f]{1,4}(:[0-9a-f]{0,4}){2,7}\b|::1|::ffff/i,
      'mDNS host name': /[0-9a-f-]{36}\.local/i,
      'DTLS fingerprint': /([0-9A-F]{2}:){8}|sha-256/i,
      'sender-key or safety payload': /sender-key|key-ack|key-request|safety-(commit|reveal)|display-name|"hello"/,
    };
    for (const [what, pattern] of Object.entries(patterns)) {
      const hit = texts.find((t) => pattern.test(t));
      assert.equal(hit, undefined, `no ${what} in a relayed message: ${hit?.slice(0, 160)}`);
    }
    // And each address the pages used appears nowhere (as text, in any message).
    assert.equal(texts.find((t) => addresses.some((ip) => t.includes(ip))), undefined, `no candidate address (${addresses.join(', ')}) in a relayed message`);
    // Every signal payload is an envelope: base64url, version byte 2, at least header + enc + tag.
    const signals = texts.filter((t) => /"type":"signal"/.test(t)).map((t) => JSON.parse(t));
    assert.ok(signals.length >= 20, `signals were relayed (${signals.length})`);
    for (const m of signals) {
      const envelope = Buffer.from(m.payload, 'base64url');
      assert.ok(/^[A-Za-z0-9_-]+$/.test(m.payload) && envelope[0] === 2 && envelope.length >= 57, `a sealed envelope: ${m.payload.slice(0, 40)}`);
    }
    assert.equal(proxy.record.messages.filter((m) => m.bytes).length, 0, 'no binary (media) frame ever reached the server');
    // Media keeps flowing peer to peer while the server's traffic stays flat.
    const relayed = () => proxy.record.messages.reduce((n, m) => n + (m.text?.length ?? m.bytes.length), 0);
    const mediaAtB = async () => Object.values(await b.page.evaluate(mediaStats)).reduce((n, e) => n + e.bytesReceived, 0);
    const [relayed0, media0] = [relayed(), await mediaAtB()];
    await b.page.waitForTimeout(3000);
    const [relayed1, media1] = [relayed(), await mediaAtB()];
    assert.ok(media1 - media0 > 100_000, `media flowed (${media1 - media0} bytes at B in 3 s)`);
    assert.ok(relayed1 - relayed0 < 8_000, `the server carried no media meanwhile (${relayed1 - relayed0} bytes)`);
    const counted = Object.fromEntries(Object.entries(needles).map(([k, v]) => [k, v.length]));
    console.log(`recording: ${texts.length} messages (${bytes} bytes; ${signals.length} sealed envelopes) and ${proxy.record.requests.length} requests hold none of ${JSON.stringify(counted)} (encodings searched), no match for ${Object.keys(patterns).join(', ')}, none of ${addresses.length} candidate addresses (${addresses.join(' ')}); chat 7/7 delivered, names shown`);
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
      conn.ws.send(JSON.stringify({ v: 2, type: 'join', peer: 'hostile-1', identity: 'AAAA' }));
      for (const frame of [...frames, ...binary.map((b) => new Uint8Array(b))]) {
        if (conn.ws.readyState !== WebSocket.OPEN) {
          results.push({ closed: true });
          conn = await open();
          conn.ws.send(JSON.stringify({ v: 2, type: 'join', peer: `hostile-${results.length}`, identity: 'AAAA' }));
          await new Promise((r) => setTimeout(r, 50));
        }
        const seen = conn.inbox.length;
        conn.ws.send(frame);
        // Wait for the answer itself (an error or a close), not a fixed time: under load the
        // worker may take longer than usual, and only silence for 2 s counts as no answer.
        for (const deadline = performance.now() + 2000; performance.now() < deadline;) {
          if (conn.ws.readyState !== WebSocket.OPEN || conn.inbox.slice(seen).some((m) => m.includes('"error"'))) break;
          await new Promise((r) => setTimeout(r, 10));
        }
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
