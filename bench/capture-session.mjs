// Captures what a real browser puts on the signaling wire for one WebRTC negotiation (the
// offer, the answer and every ICE candidate of two peer connections with fake camera and
// microphone, as Sotto sets them up), for the compression study in bench/compression.mjs.
// Run inside `unshare -n` (loopback only):  node bench/capture-session.mjs
// Writes bench/fixtures/chromium-session.json. The session is throwaway: its ICE credentials
// and DTLS fingerprints open nothing.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { launchChromium } from '../e2e/lib/browser.mjs';

// getUserMedia needs a secure context: a page from http://127.0.0.1.
const server = http.createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<!doctype html>'); });
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const browser = await launchChromium();
try {
  const page = await (await browser.newContext({ permissions: ['camera', 'microphone'] })).newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  const session = await page.evaluate(async () => {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
    const a = new RTCPeerConnection();
    const b = new RTCPeerConnection();
    const candidates = { a: [], b: [] };
    const gathered = (pc, list) => new Promise((resolve) => {
      pc.onicecandidate = (e) => (e.candidate ? list.push(e.candidate.toJSON()) : resolve());
    });
    for (const track of stream.getTracks()) { a.addTrack(track, stream); b.addTrack(track, stream); }
    const doneA = gathered(a, candidates.a);
    await a.setLocalDescription(await a.createOffer());
    await doneA;
    const doneB = gathered(b, candidates.b);
    await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription(await b.createAnswer());
    await doneB;
    // The SDP a client sends: the description before gathering (candidates trickle apart).
    return { userAgent: navigator.userAgent, offer: a.pendingLocalDescription?.sdp ?? a.localDescription.sdp, answer: b.localDescription.sdp, candidates };
  });
  session.capturedAt = new Date().toISOString();
  writeFileSync(new URL('./fixtures/chromium-session.json', import.meta.url), `${JSON.stringify(session, null, 2)}\n`);
  console.log(`offer ${session.offer.length} B, answer ${session.answer.length} B, candidates ${session.candidates.a.length} + ${session.candidates.b.length}`);
} finally {
  await browser.close();
  server.close();
}
