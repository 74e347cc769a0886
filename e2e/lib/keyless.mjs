// A keyless participant: a plain RTCPeerConnection page with no Sotto call code and no frame
// transform, speaking the wire protocol through the real worker. Protocol v2 lets nobody in
// without the room secret (sealed identity, sealed envelopes), so this page holds the link:
// it seals its identity and its offer and candidates with the crypto module (CallCrypto, the
// envelope layer only) and ignores the sender keys it is sent. It offers receive-only audio and
// video to everyone already in the room, as a newcomer does: whatever it decodes went out
// without SFrame.

/** Joins `roomId` (room secret `secret`) through `origin` from a fresh page; returns
 *  `{ page, context, peerId, stats() }`. */
export async function joinKeyless(browser, origin, roomId, secret) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${origin}/app.css`); // any page of the origin: the worker checks Origin
  const peerId = await page.evaluate(runKeyless, { origin, roomId, secret });
  return {
    page,
    context,
    peerId,
    /** Per remote peer: video packets and frames received and decoded, audio packets. */
    stats: () => page.evaluate(() => window.keyless.stats()),
    /** Per remote peer: the negotiated SDP (answer) it received. */
    answers: () => page.evaluate(() => window.keyless.answers),
  };
}

// Runs in the page.
async function runKeyless({ origin, roomId, secret }) {
  const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
  const peerId = b64url(crypto.getRandomValues(new Uint8Array(12)));
  const wasm = await import(`${origin}/pkg/sotto_client_wasm.js`);
  await wasm.default();
  const sealer = new wasm.CallCrypto(secret, peerId);
  const run = (request) => JSON.parse(sealer.run(JSON.stringify(request), performance.now()));
  const ws = new WebSocket(`${origin.replace('http', 'ws')}/ws/room/${roomId}`);
  const pcs = new Map();
  const answers = {};
  const roster = new Map();
  const send = (message) => ws.send(JSON.stringify({ v: 2, ...message }));
  const signal = (to, payload) => {
    const sealed = run({ seal: { to, payload: JSON.stringify(payload) } });
    if (sealed.sealed) send({ type: 'signal', to, payload: sealed.sealed.envelope });
  };
  const setRoster = () => run({ 'set-roster': { roster: [...roster].map(([peer, identity]) => ({ peer, identity })) } });

  async function offerTo(peer) {
    const pc = new RTCPeerConnection();
    pcs.set(peer, pc);
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) signal(peer, { type: 'ice', candidate: candidate.candidate, sdp_mid: candidate.sdpMid, sdp_m_line_index: candidate.sdpMLineIndex });
    };
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    signal(peer, { type: 'offer', sdp: offer.sdp });
  }

  const queue = [];
  let running = Promise.resolve();
  ws.onmessage = (event) => {
    running = running.then(async () => {
      const message = JSON.parse(event.data);
      if (message.type === 'welcome') {
        for (const { peer, identity } of message.peers ?? []) roster.set(peer, identity);
        setRoster();
        for (const { peer } of message.peers ?? []) await offerTo(peer);
      } else if (message.type === 'peer-joined') {
        roster.set(message.peer.peer, message.peer.identity);
        setRoster();
      } else if (message.type === 'signal') {
        const pc = pcs.get(message.from);
        const opened = run({ open: { from: message.from, envelope: message.payload } });
        if (!pc || !opened.opened) return;
        const payload = JSON.parse(opened.opened.payload);
        if (payload.type === 'answer') {
          answers[message.from] = payload.sdp;
          await pc.setRemoteDescription({ type: 'answer', sdp: payload.sdp });
          for (const c of queue.splice(0)) await pc.addIceCandidate(c).catch(() => {});
        } else if (payload.type === 'ice') {
          const candidate = { candidate: payload.candidate, sdpMid: payload.sdp_mid, sdpMLineIndex: payload.sdp_m_line_index };
          if (pc.remoteDescription) await pc.addIceCandidate(candidate).catch(() => {});
          else queue.push(candidate);
        }
        // sender keys, safety rounds: ignored (this page installs no frame key).
      }
    }).catch((error) => console.error(error));
  };
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  send({ type: 'join', peer: peerId, identity: sealer.sealedIdentity() });
  setInterval(() => send({ type: 'ping' }), 10_000);

  window.keyless = {
    answers,
    async stats() {
      const out = {};
      for (const [peer, pc] of pcs) {
        const entry = { connectionState: pc.connectionState, videoPacketsReceived: 0, framesReceived: 0, framesDecoded: 0, keyFramesDecoded: 0, audioPacketsReceived: 0 };
        for (const s of (await pc.getStats()).values()) {
          if (s.type !== 'inbound-rtp') continue;
          if (s.kind === 'video') {
            entry.videoPacketsReceived += s.packetsReceived ?? 0;
            entry.framesReceived += s.framesReceived ?? 0;
            entry.framesDecoded += s.framesDecoded ?? 0;
            entry.keyFramesDecoded += s.keyFramesDecoded ?? 0;
          } else {
            entry.audioPacketsReceived += s.packetsReceived ?? 0;
          }
        }
        out[peer] = entry;
      }
      return out;
    },
  };
  return peerId;
}
