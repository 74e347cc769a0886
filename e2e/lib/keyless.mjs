// A keyless participant: a plain RTCPeerConnection page with no Sotto code, speaking the wire
// protocol through the real worker. It joins with a random peer id and a random identity
// key, and offers receive-only audio and video to everyone already in the room, as a newcomer
// does. What a server (which knows the room id) could do on its own, without the link.

/** Joins `roomId` through `origin` from a fresh page; returns `{ page, context, peerId, stats() }`. */
export async function joinKeyless(browser, origin, roomId) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${origin}/app.css`); // any page of the origin: the worker checks Origin
  const peerId = await page.evaluate(runKeyless, { origin, roomId });
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
async function runKeyless({ origin, roomId }) {
  const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
  const peerId = b64url(crypto.getRandomValues(new Uint8Array(12)));
  const identity = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const ws = new WebSocket(`${origin.replace('http', 'ws')}/ws/room/${roomId}`);
  const pcs = new Map();
  const answers = {};
  const send = (message) => ws.send(JSON.stringify({ v: 1, ...message }));
  const signal = (to, payload) => send({ type: 'signal', to, payload: JSON.stringify(payload) });

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
        for (const { peer } of message.peers ?? []) await offerTo(peer);
      } else if (message.type === 'signal') {
        const pc = pcs.get(message.from);
        const payload = JSON.parse(message.payload);
        if (!pc) return;
        if (payload.type === 'answer') {
          answers[message.from] = payload.sdp;
          await pc.setRemoteDescription({ type: 'answer', sdp: payload.sdp });
          for (const c of queue.splice(0)) await pc.addIceCandidate(c).catch(() => {});
        } else if (payload.type === 'ice') {
          const candidate = { candidate: payload.candidate, sdpMid: payload.sdp_mid, sdpMLineIndex: payload.sdp_m_line_index };
          if (pc.remoteDescription) await pc.addIceCandidate(candidate).catch(() => {});
          else queue.push(candidate);
        }
        // sender-key messages are sealed to an identity key nobody can use without the link.
      }
    }).catch((error) => console.error(error));
  };
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  send({ type: 'join', peer: peerId, identity });
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
