// Realistic signaling traffic for the compression study and the realistic relay runs: what one
// pair of participants sends each other through the room when the second joins a call, built
// from a real Chromium negotiation (bench/fixtures/chromium-session.json, made by
// bench/capture-session.mjs) in the shapes the client sends (client-wasm/js/sotto.js).
//
// Two forms of `signal.payload`:
//   v1  the peer payload as JSON text (today: SDP, ICE and sealed keys readable by the server
//       as far as they are not sealed)
//   v2  every peer payload sealed end to end and carried as base64url (the coming protocol
//       version): random bytes stand in for the ciphertext, which compresses exactly as badly.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

const session = JSON.parse(readFileSync(new URL('./fixtures/chromium-session.json', import.meta.url), 'utf8'));

// A loopback capture has host candidates only; a real client also gathers server-reflexive and
// relay candidates (documentation addresses, RFC 5737).
function extraCandidates(side, ufrag) {
  const base = side === 'a' ? 41 : 87;
  return [
    { candidate: `candidate:${2_700_000_000 + base} 1 udp 1686052607 203.0.113.${base} 5${base}12 typ srflx raddr 192.168.1.${base} rport 5${base}12 generation 0 ufrag ${ufrag} network-id 1 network-cost 10`, sdpMid: '0', sdpMLineIndex: 0 },
    { candidate: `candidate:${3_100_000_000 + base} 1 udp 41885439 198.51.100.7 6${base}01 typ relay raddr 203.0.113.${base} rport 5${base}12 generation 0 ufrag ${ufrag} network-id 1 network-cost 10`, sdpMid: '0', sdpMLineIndex: 0 },
    { candidate: `candidate:${1_900_000_000 + base} 1 udp 2122262783 2001:db8::${base} 5${base}77 typ host generation 0 ufrag ${ufrag} network-id 2 network-cost 10`, sdpMid: '0', sdpMLineIndex: 0 },
  ];
}

const ice = (c) => ({ type: 'ice', candidate: c.candidate, sdp_mid: c.sdpMid, sdp_m_line_index: c.sdpMLineIndex });
const sealedKey = () => randomBytes(73).toString('base64url'); // e2ee KEY_MESSAGE_LEN

/** The peer payloads of one join, in order: [{ from: 'a'|'b', kind, payload (object) }]. */
export function joinMessages() {
  const ufrag = (sdp) => /a=ice-ufrag:(\S+)/.exec(sdp)?.[1] ?? 'x';
  const out = [];
  const add = (from, payload) => out.push({ from, kind: payload.type, payload });
  add('b', { type: 'hello' });
  add('a', { type: 'sender-key', key: sealedKey() });
  add('b', { type: 'sender-key', key: sealedKey() });
  add('a', { type: 'offer', sdp: session.offer });
  add('b', { type: 'key-ack', epoch: 1 });
  add('a', { type: 'key-ack', epoch: 1 });
  add('b', { type: 'answer', sdp: session.answer });
  for (const c of [...session.candidates.a, ...extraCandidates('a', ufrag(session.offer))]) add('a', ice(c));
  for (const c of [...session.candidates.b, ...extraCandidates('b', ufrag(session.answer))]) add('b', ice(c));
  add('a', { type: 'end-of-candidates' });
  add('b', { type: 'end-of-candidates' });
  return out;
}

/** `payload` as it travels in `signal.payload`, in form 'v1' or 'v2'. */
export function wirePayload(payload, form) {
  const text = JSON.stringify(payload);
  if (form === 'v1') return text;
  // Sealed: 1 version byte + 12-byte nonce + ciphertext (as long as the text) + 16-byte tag.
  return randomBytes(1 + 12 + Buffer.byteLength(text) + 16).toString('base64url');
}

/** The signal frames each side receives from the worker during one join, in order. */
export function receivedFrames(form, ids = { a: 'peerA', b: 'peerB' }) {
  const to = { a: [], b: [] };
  for (const m of joinMessages()) {
    const recipient = m.from === 'a' ? 'b' : 'a';
    to[recipient].push({ kind: m.kind, text: JSON.stringify({ type: 'signal', v: 2, from: ids[m.from], to: ids[recipient], payload: wirePayload(m.payload, form) }) });
  }
  return to;
}

/** Payload bodies for the realistic relay runs: one join's payloads in `form`, in order. */
export function relayBodies(form) {
  return joinMessages().map((m) => wirePayload(m.payload, form));
}
