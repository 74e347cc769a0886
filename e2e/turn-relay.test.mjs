// coturn for the relay-only mode (issue 13 item 4): Debian's turnserver started inside this
// test's network namespace (e2e/lib/coturn.mjs) with the same shared secret as the worker
// (TURN_SECRET, TURN_URLS passed to wrangler dev). A headless Chromium page fetches
// credentials from the worker's /api/turn-credentials and, with iceTransportPolicy 'relay',
// gathers relay candidates and connects two peer connections through the relay; credentials
// that do not match the secret gather nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startCoturn } from './lib/coturn.mjs';
import { startWorker } from './lib/worker.mjs';
import { launchChromium } from './lib/browser.mjs';

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

async function freshPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${worker.origin}/`);
  return { page, context };
}

// In the page: gathers with iceTransportPolicy 'relay' and returns every candidate.
const GATHER = async ({ spoil }) => {
  const response = await fetch('/api/turn-credentials', { method: 'POST' });
  const creds = await response.json();
  const credential = spoil ? `x${creds.credential.slice(1)}` : creds.credential;
  const pc = new RTCPeerConnection({ iceServers: [{ urls: creds.urls, username: creds.username, credential }], iceTransportPolicy: 'relay' });
  pc.createDataChannel('probe');
  const candidates = [];
  const errors = [];
  pc.onicecandidateerror = (e) => errors.push(`${e.errorCode} ${e.errorText}`);
  const done = new Promise((resolve) => {
    pc.onicecandidate = (e) => (e.candidate ? candidates.push(e.candidate.candidate) : resolve());
    setTimeout(resolve, 8000);
  });
  await pc.setLocalDescription(await pc.createOffer());
  await done;
  pc.close();
  return { status: response.status, urls: creds.urls, candidates, errors };
};

test('a relay candidate is gathered through coturn with credentials from the worker', async () => {
  const { page, context } = await freshPage();
  try {
    const before = turn.allocations();
    const out = await page.evaluate(GATHER, { spoil: false });
    assert.equal(out.status, 200);
    assert.deepEqual(out.urls, [turn.url]);
    assert.ok(out.candidates.length > 0, `no candidate: ${JSON.stringify(out.errors)}\n${turn.log().slice(-2000)}`);
    for (const c of out.candidates) assert.match(c, / typ relay( |$)/, `only relay candidates under policy 'relay': ${c}`);
    assert.ok(out.candidates.some((c) => c.includes(' 127.0.0.1 ')), `relayed on loopback: ${out.candidates}`);
    assert.ok(turn.allocations() > before, 'coturn logged the allocation');
  } finally {
    await context.close();
  }
});

test('credentials that do not match the shared secret gather nothing', async () => {
  const { page, context } = await freshPage();
  try {
    const out = await page.evaluate(GATHER, { spoil: true });
    assert.equal(out.status, 200);
    assert.deepEqual(out.candidates, [], 'a relay was allocated with a wrong password');
    assert.match(turn.log(), /check_stun_auth: Cannot find credentials of user <\d+:/, 'coturn refused the credentials');
  } finally {
    await context.close();
  }
});

test('two relay-only peer connections reach each other through coturn (loopback peers allowed)', async () => {
  const { page, context } = await freshPage();
  try {
    const out = await page.evaluate(async () => {
      const creds = await (await fetch('/api/turn-credentials', { method: 'POST' })).json();
      const config = { iceServers: [{ urls: creds.urls, username: creds.username, credential: creds.credential }], iceTransportPolicy: 'relay' };
      const a = new RTCPeerConnection(config);
      const b = new RTCPeerConnection(config);
      a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
      b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
      const channel = a.createDataChannel('relay');
      const received = new Promise((resolve) => {
        b.ondatachannel = (e) => { e.channel.onmessage = (m) => resolve(m.data); };
      });
      const opened = new Promise((resolve) => { channel.onopen = resolve; });
      await a.setLocalDescription(await a.createOffer());
      await b.setRemoteDescription(a.localDescription);
      await b.setLocalDescription(await b.createAnswer());
      await a.setRemoteDescription(b.localDescription);
      const timeout = (ms, what) => new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} timed out`)), ms));
      await Promise.race([opened, timeout(15000, 'data channel open')]);
      channel.send('through the relay');
      const text = await Promise.race([received, timeout(5000, 'message')]);
      const pairs = async (pc) => {
        const stats = await pc.getStats();
        const byId = new Map([...stats.values()].map((s) => [s.id, s]));
        const transport = [...stats.values()].find((s) => s.type === 'transport');
        const pair = byId.get(transport?.selectedCandidatePairId);
        return { local: byId.get(pair?.localCandidateId)?.candidateType, remote: byId.get(pair?.remoteCandidateId)?.candidateType };
      };
      const result = { text, a: await pairs(a), b: await pairs(b) };
      a.close();
      b.close();
      return result;
    });
    assert.equal(out.text, 'through the relay');
    assert.deepEqual(out.a, { local: 'relay', remote: 'relay' });
    assert.deepEqual(out.b, { local: 'relay', remote: 'relay' });
  } finally {
    await context.close();
  }
});
