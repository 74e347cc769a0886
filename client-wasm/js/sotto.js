// Sotto client: end-to-end encrypted calls in the browser.
//
//   page: this module + the call core           crypto worker: sotto-worker.js
//   (sotto_call_wasm: roster, negotiation,      + sotto_client_wasm: identity key, sender and
//   recovery, rotation, every wire message;     receive keys (HPKE), SFrame encrypt/decrypt
//   no key, no crypto code)                     of every frame, chat sealing, safety code
//
// The call core decides everything; this module only carries out its actions against the
// WebSocket, the RTCPeerConnections, the crypto worker and the timer, reports what happens back
// to it, and turns its events into the public API's. The room secret comes from the URL
// fragment and goes to the worker; the server only sees the room id derived from it, sealed
// identities and sealed envelopes (protocol v2): every peer payload (SDP, candidates, keys,
// names, safety code rounds) is sealed by the worker before the core hands it to the socket,
// and opened there before the core reads it. This page sees a peer's SDP and candidates in
// clear only to hand them to its RTCPeerConnection.
import initCore, { CallCore } from './sotto_call_wasm.js';

/** An error with a stable `code` an application can switch on. */
export class SottoError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'SottoError';
    this.code = code;
  }
}

let coreLoaded = null;
const loadCore = () => (coreLoaded ??= initCore()); // the glue finds the .wasm beside itself

const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
const now = () => Math.ceil(performance.now());

/** Makes a new room secret (32 random bytes, base64url). Put it in a URL fragment only. */
export async function generateRoomSecret() {
  return b64url(crypto.getRandomValues(new Uint8Array(32)));
}

/**
 * A link to a new room: `base` (default: this page) with a fresh secret as its fragment.
 * Share the whole link; browsers never send the fragment to any server.
 */
export async function createRoomLink(base = globalThis.location?.href) {
  const url = new URL(base);
  url.hash = await generateRoomSecret();
  return url.href;
}

/** The room secret in a link's fragment; throws `bad-room-link` if there is none. */
export function roomSecretFromLink(link) {
  let fragment;
  try {
    fragment = new URL(link).hash.slice(1);
  } catch {
    throw new SottoError('bad-room-link', 'not a URL');
  }
  if (!SECRET_PATTERN.test(fragment)) throw new SottoError('bad-room-link', 'the link has no room secret in its fragment (#...)');
  return fragment;
}

/**
 * The room id the server will see for a secret (useful for diagnostics): HKDF-SHA-256 as in
 * e2ee/src/room.rs, on WebCrypto, so that no crypto code runs on the page. (The e2e suite
 * checks it against the id the crypto worker derives.)
 */
export async function roomIdFor(secret) {
  const bytes = SECRET_PATTERN.test(secret) ? Uint8Array.from(atob(secret.replaceAll('-', '+').replaceAll('_', '/')), (c) => c.charCodeAt(0)) : null;
  if (!bytes || b64url(bytes) !== secret) throw new SottoError('bad-encoding', 'not a room secret (32 bytes, base64url)');
  const text = new TextEncoder();
  const key = await crypto.subtle.importKey('raw', bytes, 'HKDF', false, ['deriveBits']);
  const id = await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: text.encode('sotto/v1 room'), info: text.encode('sotto/v1 room id') }, key, 128);
  return b64url(new Uint8Array(id));
}

/** Which frame-transform API this browser offers: 'script-transform', 'insertable-streams' or null. */
export function e2eeSupport() {
  if (typeof RTCRtpScriptTransform === 'function') return 'script-transform';
  if (typeof RTCRtpSender !== 'undefined' && 'createEncodedStreams' in RTCRtpSender.prototype) return 'insertable-streams';
  return null;
}

function defaultSignalingUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}`;
}

// The joinCall options the call core reads (see client-wasm/README.md).
const CORE_OPTIONS = ['reconnect', 'keepaliveMs', 'iceRestartDelayMs', 'iceBackoffBaseMs', 'iceBackoffMaxMs', 'stableConnectionMs',
  'negotiationTimeoutMs', 'peerTimeoutMs', 'rejoinGraceMs', 'switchTimeoutMs', 'keyWaitMs', 'constantBitrateAudio',
  'displayName', 'privacy', 'verifiedIdentities'];
const PRIVACY = ['default', 'relay'];

// TURN credentials from the signaling worker (coturn's REST scheme): its origin is the
// signaling URL's, with http(s) for ws(s). A worker without TURN answers 204 (no content, so
// no failed request in the console of every default-mode call): null. Relay-only mode cannot
// work without credentials: anything but credentials is `turn-unavailable` there.
async function turnCredentials(signalingUrl, required) {
  const url = new URL('/api/turn-credentials', signalingUrl.replace(/^ws/, 'http'));
  let response;
  try {
    response = await fetch(url, { method: 'POST' });
  } catch (error) {
    throw new SottoError('turn-unavailable', `the TURN credentials could not be fetched: ${error.message}`);
  }
  if (response.status === 204 && !required) return null;
  const body = await response.json().catch(() => null);
  if (!response.ok || !body?.username || !body?.credential || !Array.isArray(body?.urls) || body.urls.length === 0) {
    const why = response.status === 204 ? 'no TURN relay is configured' : `${response.status}${body?.code ? ` ${body.code}` : ''}`;
    throw new SottoError('turn-unavailable', `the server gives no TURN credentials (${why}): the relay-only mode cannot work (nothing is sent directly instead)`);
  }
  return { iceServer: { urls: body.urls, username: body.username, credential: body.credential }, ttl: Number(body.ttl) || 3600 };
}

/**
 * Joins (or starts) the call for `roomSecret`.
 * @param {object} options
 * @param {string} [options.roomSecret] base64url secret from the URL fragment
 * @param {string} [options.link] a room link (its fragment is the secret), instead of roomSecret
 * @param {MediaStream} [options.localStream] camera/microphone to send
 * @param {string} [options.signalingUrl] ws(s)://host of the signaling worker (default: this origin)
 * @param {RTCIceServer[]} [options.iceServers]
 * @param {string} [options.displayName] the name the others see (sent sealed: never to the server)
 * @param {'default'|'relay'} [options.privacy] 'relay': media only through a TURN relay (credentials
 *   from the worker's /api/turn-credentials), so that no peer learns this participant's addresses
 * @param {string[]} [options.verifiedIdentities] identity keys already verified (they start verified)
 * @param {AbortSignal} [options.signal] aborts the join, and closes the call once joined
 * @returns {Promise<Call>}
 */
export async function joinCall(options) {
  const call = new Call(options);
  try {
    await call.start(options.signal);
  } catch (error) {
    call.close(); // a failed or aborted join leaves nothing running
    throw error;
  }
  // After the join the same signal ends the call: abort() is close().
  options.signal?.addEventListener('abort', () => call.close(), { once: true });
  return call;
}

/** A call in one room. Events: participant-joined, participant-left, participant-state,
 *  participant-name, track, track-removed, connection-state, ice-restart, key-epoch,
 *  safety-code, verification-changed, verified-key-changed, signaling-state, chat, error,
 *  closed (and mute-changed, local-track-replaced, screen-share for local media). */
export class Call extends EventTarget {
  #options;
  #mode;
  #worker;
  #core = null;
  #closed = false;
  #pumping = false;
  #timer = null;
  #timerAt;
  #rpcs = new Map();
  #rpcId = 0;
  #joined = null;
  #chats = new Map();
  #chatId = 0;
  #sockets = new Map(); // socket id -> WebSocket
  #conns = new Map(); // connection id -> { pc, peer, chat, role }
  #streams = new Map(); // peer id -> MediaStream of its tracks
  #local = {}; // kind -> the local track sent
  #localStreamReady;
  #trackUpdates = null;
  #iceServers = [];
  #turnTimer = null;
  #early = null; // the room socket opened while the crypto worker starts (see #preconnect)
  #spare = null; // a peer connection gathering candidates before it is needed (see #warmUp)
  #safety = { words: [], hex: '', state: 'verifying' };
  // #if testing
  #candidatesAdded = [];
  #sealedLog = [];
  // #endif
  // Events of the join (participants already there, the first safety code...) wait until the
  // application has the Call and its listeners: they are dispatched right after joinCall resolves.
  #held = [];
  // The fail-open invariant: every transform has an id, the crypto worker counts the frames
  // each one sees, and senders the core found bypassing their transform are blocked for good.
  #protected = new WeakSet();
  #transformIds = new WeakMap();
  #transformSeq = 0;
  #blocked = new WeakSet();

  constructor(options) {
    super();
    // #if testing
    // The test build takes extra options from the page (a Playwright init script sets them):
    // the demo itself reads no option from anywhere.
    if (globalThis.sottoTestOptions) options = { ...options, ...globalThis.sottoTestOptions };
    // #endif
    if (options?.link && !options.roomSecret) options = { ...options, roomSecret: roomSecretFromLink(options.link) };
    if (!options?.roomSecret) throw new SottoError('bad-argument', 'roomSecret (or a link with one) is required');
    if (options.videoCodec !== undefined && !VIDEO_CODECS.includes(options.videoCodec)) {
      throw new SottoError('bad-argument', `videoCodec must be one of ${VIDEO_CODECS.join(', ')}`);
    }
    if (options.privacy !== undefined && !PRIVACY.includes(options.privacy)) {
      throw new SottoError('bad-argument', `privacy must be one of ${PRIVACY.join(', ')}`);
    }
    if (options.displayName !== undefined && typeof options.displayName !== 'string') {
      throw new SottoError('bad-argument', 'displayName must be a string');
    }
    this.#options = options;
    // Sending without end-to-end encryption happens only when the application asks for it
    // (`e2ee: false`), and the call then says so: `call.encrypted === false`.
    this.encrypted = options.e2ee !== false;
    this.#mode = this.encrypted ? e2eeSupport() : 'none';
    if (!this.#mode) {
      throw new SottoError('e2ee-unsupported', 'this browser cannot encrypt media frames end to end; refusing to send media');
    }
    /** How frames reach the crypto worker: 'script-transform', 'insertable-streams' or 'none'. */
    this.frameTransform = this.#mode;
    this.peerId = b64url(crypto.getRandomValues(new Uint8Array(12)));
    // #if testing
    // A participant coming back under a peer id with a new identity key (what a link holder
    // working with the server does to take a verified participant's place).
    if (options.testPeerId) this.peerId = options.testPeerId;
    // #endif
    this.roomId = null;
    /** This participant's identity key (base64url): what the others' `participants` show. */
    this.identity = null;
    /** 'relay' when media goes through a TURN relay only. */
    this.privacy = options.privacy ?? 'default';
    // A MediaStream, or a promise of one: the worker and the socket start while the user is
    // still answering the camera prompt, and nothing is negotiated before the stream is there.
    this.localStream = options.localStream instanceof MediaStream ? options.localStream : null;
    this.#localStreamReady = Promise.resolve(options.localStream ?? null);
    /** This participant's current sender-key epoch. */
    this.epoch = null;
  }

  /** Remote participants (those whose sealed identity opened with the room secret): peer id ->
   *  { identity, name, verified, stream, connectionState, epoch, keyState }. */
  get participants() {
    const out = new Map();
    for (const p of this.#core && !this.#closed ? JSON.parse(this.#core.participants()) : []) {
      out.set(p.peer, {
        identity: p.identity, name: p.name ?? null, verified: p.verified, stream: this.#streams.get(p.peer),
        connectionState: p.connection_state, epoch: p.epoch, keyState: p.key_state,
      });
    }
    return out;
  }

  /**
   * Marks `peer` verified (people compared the safety code with them) or not. The mark belongs
   * to the peer's identity key: a participant that comes back with another key is not verified
   * (and `verified-key-changed` warns about it). Emits `verification-changed`.
   */
  setVerified(peer, verified = true) {
    if (!this.#core || this.#closed) throw new SottoError('closed', 'the call was closed');
    if (!this.participants.has(peer)) throw new SottoError('bad-argument', 'no such participant');
    this.#input((c, t) => c.setVerified(peer, Boolean(verified), t));
  }

  async start(signal) {
    try {
      await this.#start(signal);
    } finally {
      setTimeout(() => {
        const held = this.#held ?? [];
        this.#held = null;
        for (const event of held) this.dispatchEvent(event);
      });
    }
  }

  async #start(signal) {
    throwIfAborted(signal);
    // Written out in one expression so that bundlers recognise and bundle the worker.
    this.#worker = this.#options.workerUrl
      ? new Worker(this.#options.workerUrl, { type: 'module', name: 'sotto-crypto' })
      : new Worker(new URL('./sotto-worker.js', import.meta.url), { type: 'module', name: 'sotto-crypto' });
    this.#worker.onmessage = ({ data }) => this.#settle(data);
    this.#worker.onerror = (event) => this.#fail(new SottoError('worker-failed', `crypto worker failed: ${event.message}`));
    const relay = this.privacy === 'relay';
    const signalingUrl = this.#options.signalingUrl || defaultSignalingUrl();
    this.#preconnect(this.#options.roomSecret);
    const [{ roomId, identity, sealedIdentity }, turn] = await Promise.all([
      this.#rpc('init', { secret: this.#options.roomSecret, peerId: this.peerId }),
      // Relay-only needs TURN (fails without it); the default mode uses it too when the worker
      // hands out credentials, so that it reaches relay-only participants (who accept relay
      // candidates only) and peers behind NATs; without them it goes on with direct paths.
      relay ? turnCredentials(signalingUrl, true) : turnCredentials(signalingUrl, false).catch(() => null),
      loadCore(),
    ]);
    this.#iceServers = [...(this.#options.iceServers ?? []), ...(turn ? [turn.iceServer] : [])];
    if (turn) {
      // fresh credentials well before these expire (connections made later need them)
      this.#turnTimer = setInterval(() => turnCredentials(signalingUrl, relay).then(
        (t) => { if (t) this.#iceServers = [...(this.#options.iceServers ?? []), t.iceServer]; },
        (error) => { if (relay) this.#dispatch('error', error); }), Math.max(60, turn.ttl / 2) * 1000);
    }
    // The worker has the secret now; the page keeps no reference to it (a JS string cannot be
    // wiped, but it can at least be left to the garbage collector).
    this.#options = { ...this.#options, roomSecret: undefined, link: undefined };
    this.roomId = roomId;
    this.identity = identity;
    throwIfAborted(signal);
    if (this.#closed) throw new SottoError('closed', 'the call was closed');
    const joined = new Promise((resolve, reject) => { this.#joined = { resolve, reject }; });
    const config = Object.fromEntries(CORE_OPTIONS.filter((k) => this.#options[k] !== undefined).map((k) => [k, this.#options[k]]));
    const [hi, lo] = crypto.getRandomValues(new Uint32Array(2));
    try {
      this.#core = new CallCore(JSON.stringify({ ...config, e2ee: this.encrypted }), this.peerId, sealedIdentity, roomId, (hi >>> 11) * 2 ** 32 + lo, now());
    } catch (error) {
      throw new SottoError(error.code ?? 'bad-argument', `joinCall options: ${error.message}`);
    }
    this.#pump(); // opens the socket
    // Server messages wait inside the core until the local media is ready.
    this.#localStreamReady.then((stream) => {
      this.localStream = stream;
      for (const track of stream?.getTracks() ?? []) this.#local[track.kind] ??= track;
      this.#input((c, t) => c.localMediaReady(t));
    }, () => {});
    const aborted = new Promise((_, reject) => {
      signal?.addEventListener('abort', () => reject(abortError(signal)), { once: true });
    });
    aborted.catch(() => {}); // only raced below
    await Promise.race([Promise.all([joined, this.#localStreamReady]), aborted]);
  }

  /**
   * Frame counters from the crypto worker, and `invariant`: how often the senders were checked
   * for media that bypassed encryption (`checks`), how many were stopped for it (`trips`), and
   * the last figures per sender (`senders`: peer, kind, `sent` by the browser, `seen` by the
   * encrypt transform, `blocked`), and the figures of each sender when it was stopped
   * (`stopped`).
   */
  async cryptoStats() {
    const core = this.#core && !this.#closed ? JSON.parse(this.#core.stats()) : null;
    const stats = await this.#rpc('stats');
    const c = core.candidates;
    return {
      ...stats,
      invariant: core.invariant,
      chat: { buffered: core.chat.buffered, deliveredLate: core.chat.delivered_late, dropped: core.chat.dropped, waiting: core.chat_waiting },
      rosterRejections: core.roster_rejections,
      forgedParticipants: core.forged_participants,
      envelopes: { rejected: core.envelopes_rejected, replayed: core.envelopes_replayed },
      // ICE candidates by type as sent and as received (opened), and those relay-only mode dropped
      candidates: { sentRelay: c.sent_relay, sentOther: c.sent_other, receivedRelay: c.received_relay, receivedOther: c.received_other, dropped: c.dropped },
    };
  }

  /**
   * The current safety code: `{words, hex, state}`. `state` is 'verifying' (a round is under
   * way: no code yet), 'ready' (compare the 5 `words` out loud, or the 64 `hex` digits for a
   * full-strength check) or 'failed' (someone's reveal did not match: not verified).
   */
  async safetyCode() {
    return { ...this.#safety, words: [...this.#safety.words] };
  }

  /** Media statistics per remote peer (frames received and decoded, audio packets). */
  async mediaStats() {
    const out = {};
    for (const id of this.participants.keys()) {
      const entry = { framesReceived: 0, framesDecoded: 0, videoPacketsReceived: 0, audioPacketsReceived: 0, framesEncoded: 0, bytesReceived: 0, videoCodec: null };
      const conn = [...this.#conns.values()].find((c) => c.peer === id);
      if (conn) {
        const report = await conn.pc.getStats();
        for (const s of report.values()) {
          if (s.type === 'inbound-rtp') entry.bytesReceived += s.bytesReceived ?? 0;
          if (s.type === 'inbound-rtp' && s.kind === 'video') {
            entry.framesReceived += s.framesReceived ?? 0;
            entry.framesDecoded += s.framesDecoded ?? 0;
            entry.videoPacketsReceived += s.packetsReceived ?? 0;
            entry.videoCodec = report.get(s.codecId)?.mimeType ?? entry.videoCodec;
          } else if (s.type === 'inbound-rtp' && s.kind === 'audio') {
            entry.audioPacketsReceived += s.packetsReceived ?? 0;
          } else if (s.type === 'outbound-rtp' && s.kind === 'video') {
            entry.framesEncoded += s.framesEncoded ?? 0;
          }
        }
      }
      out[id] = entry;
    }
    return out;
  }

  /**
   * Audio energy received from each remote participant and sent from the local microphone,
   * as running totals: `{ local: {energy, duration} | null, peers: { [peer]: {energy, duration} } }`
   * (`totalAudioEnergy` and `totalSamplesDuration` of getStats: computed by this browser from
   * the decoded audio, and from the local track; no audio-level header goes on the wire). The
   * mean level between two calls is `sqrt(Δenergy / Δduration)` (0 to 1).
   */
  async audioLevels() {
    const out = { local: null, peers: {} };
    for (const conn of [...this.#conns.values()]) {
      if (!this.participants.has(conn.peer)) continue;
      let report;
      try { report = await conn.pc.getStats(); } catch { continue; }
      const entry = out.peers[conn.peer] ?? (out.peers[conn.peer] = { energy: 0, duration: 0 });
      for (const s of report.values()) {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') {
          entry.energy += s.totalAudioEnergy ?? 0;
          entry.duration += s.totalSamplesDuration ?? 0;
        } else if (s.type === 'media-source' && s.kind === 'audio' && !out.local && typeof s.totalSamplesDuration === 'number') {
          out.local = { energy: s.totalAudioEnergy ?? 0, duration: s.totalSamplesDuration };
        }
      }
    }
    return out;
  }

  /**
   * Sends a chat message to everyone in the call, end-to-end encrypted with this
   * participant's current sender key (chat label). Resolves with the number of peers it
   * was handed to; rejects with `no-peers` when nobody is connected to receive it.
   */
  sendChat(text) {
    if (typeof text !== 'string') return Promise.reject(new SottoError('bad-argument', 'chat text must be a non-empty string'));
    if (!this.#core || this.#closed) return Promise.reject(new SottoError('closed', 'the call was closed'));
    return new Promise((resolve, reject) => {
      const request = ++this.#chatId;
      this.#chats.set(request, { resolve, reject });
      this.#input((c, t) => c.sendChat(request, text, t));
    });
  }

  /** Mutes or unmutes this participant's microphone ('audio') or camera ('video'). */
  setMuted(kind, muted) {
    const tracks = this.localStream?.getTracks().filter((t) => t.kind === kind) ?? [];
    if (tracks.length === 0) throw new SottoError('no-track', `there is no local ${kind} track`);
    for (const track of tracks) track.enabled = !muted;
    this.#dispatch('mute-changed', { kind, muted });
  }

  /** Whether the local `kind` track is muted (true when there is none). */
  isMuted(kind) {
    return !(this.localStream?.getTracks().some((t) => t.kind === kind && t.enabled) ?? false);
  }

  /**
   * Sends `track` instead of the current local track of its kind, to every peer (a new
   * camera or microphone, or a screen). The frame transforms stay attached, so the new
   * track is encrypted like the old one. Returns the track it replaced (not stopped).
   */
  async replaceTrack(track) {
    if (!(track instanceof MediaStreamTrack)) throw new SottoError('bad-argument', 'replaceTrack needs a MediaStreamTrack');
    const old = this.#local[track.kind] ?? null;
    this.#local[track.kind] = track;
    if (this.localStream) {
      if (old) this.localStream.removeTrack(old);
      this.localStream.addTrack(track);
    }
    // The core says which senders take it (never one the invariant stopped).
    this.#trackUpdates = [];
    this.#input((c, t) => c.replaceTrack(track.kind, t));
    const updates = this.#trackUpdates;
    this.#trackUpdates = null;
    await Promise.all(updates);
    this.#dispatch('local-track-replaced', { kind: track.kind, track, previous: old });
    return old;
  }

  /** Switches to another camera or microphone by device id; stops the previous track. */
  async switchDevice(kind, deviceId) {
    const stream = await navigator.mediaDevices.getUserMedia({ [kind]: { deviceId: { exact: deviceId } } });
    const [track] = stream.getTracks();
    const old = await this.replaceTrack(track);
    old?.stop();
    return track;
  }

  /** Shares the screen instead of the camera until the returned function is called (or the
   *  browser's own stop button is pressed); then the camera comes back. Emits 'screen-share'. */
  async shareScreen() {
    if (this.#closed) throw new SottoError('closed', 'the call was closed');
    const screen = await navigator.mediaDevices.getDisplayMedia({ video: true });
    const [track] = screen.getVideoTracks();
    const camera = await this.replaceTrack(track);
    this.#dispatch('screen-share', { active: true, track });
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      track.onended = null;
      track.stop();
      if (camera && !this.#closed) await this.replaceTrack(camera);
      this.#dispatch('screen-share', { active: false, track });
    };
    track.onended = () => { stop().catch((error) => this.#dispatch('error', error)); };
    return stop;
  }

  // #if testing
  // Test build only (see scripts/package-client.sh): hooks for the e2e suite.

  // Every envelope this page sealed, with what it holds: a test playing the server looks up
  // the type of a payload it cannot read (to drop or keep it) in the sender's page.
  #logSealed(op, result) {
    if (!op?.seal) return;
    const envelope = JSON.parse(result)?.sealed?.envelope;
    if (!envelope) return;
    if (this.#sealedLog.length >= 10_000) this.#sealedLog.shift();
    this.#sealedLog.push({ to: op.seal.to, type: JSON.parse(op.seal.payload).type, envelope });
  }

  /** `{to, type, envelope}` of the envelopes sealed (the newest 10,000), or only `envelope`'s. */
  testSealedLog(envelope) {
    return envelope === undefined ? this.#sealedLog.map((e) => ({ ...e })) : this.#sealedLog.filter((e) => e.envelope === envelope);
  }

  /** The remote ICE candidates handed to the peer connections (after the core opened and kept them). */
  testCandidatesAdded() {
    return [...this.#candidatesAdded];
  }

  /** The keys this participant holds. */
  exportKeysForTesting() {
    return this.#rpc('exportKeysForTesting');
  }

  /** Plays an attacker on this participant's outgoing ciphertext. */
  testAttack(options) {
    return this.#rpc('testAttack', options);
  }

  /** What the attacker did so far. */
  testAttackStats() {
    return this.#rpc('testAttackStats');
  }

  /** Test support: keeps the next `count` encrypted video frames this participant sends. */
  testCapture(count) {
    return this.#rpc('testCapture', { count });
  }

  /** Test support: how many of `frames` (from `from`) decrypt under `keys` (`[{peer, epoch, key}]`). */
  testDecryptWith(keys, from, frames) {
    return this.#rpc('testDecryptWith', { keys, from, frames });
  }

  /** Test support: sends frames and chat under `key` (hex) and `epoch` from now on (to play a
   *  former participant that kept someone's key). */
  installSenderKeyForTesting(key, epoch) {
    return this.#rpc('installSenderKeyForTesting', { key, epoch });
  }

  /** Test support: the frames kept by testCapture, `[{mime, data}]`. */
  testCaptured() {
    return this.#rpc('testCaptured');
  }

  /** Test support: records the sizes of the next `count` clear audio frames sent; without `count`, returns them. */
  testAudioSizes(count) {
    return this.#rpc('testAudioSizes', { count });
  }
  // #endif

  /** Leaves the call and releases everything: sockets, peer connections, the worker. */
  close() {
    if (this.#closed) return;
    this.#input((c, t) => c.close(t)); // the core leaves, closes the socket and the peers, says 'closed'
    this.#shutDown(); // in case it could not (not started, or broken)
  }

  // ── the call core: inputs in, actions out ───────────────────────────────────

  // One input for the core (`feed(core, now)`), then its actions.
  #input(feed) {
    if (!this.#core || this.#closed) return;
    try {
      feed(this.#core, now());
    } catch (error) {
      this.#broken(error);
      return;
    }
    this.#pump();
  }

  // Carries out the core's actions in order. An input that arrives meanwhile (an event
  // listener calling the API) is handled at once and its actions join the queue.
  #pump() {
    if (this.#pumping || !this.#core) return;
    this.#pumping = true;
    try {
      for (let action; this.#core && (action = this.#core.pollAction()) !== undefined;) this.#run(JSON.parse(action));
    } catch (error) {
      this.#broken(error);
    } finally {
      this.#pumping = false;
    }
    if (this.#closed) {
      this.#core?.free();
      this.#core = null;
      return;
    }
    // One timer: when the core wants time to pass next.
    const at = this.#core?.pollTimeout();
    if (at === this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = at === undefined ? null : setTimeout(() => {
      this.#timerAt = undefined;
      this.#input((c, t) => c.handleTimeout(t));
    }, Math.max(0, at - performance.now()));
  }

  #run(a) {
    const conn = this.#conns.get(a.conn);
    switch (a.type) {
      case 'open-socket': return this.#openSocket(a.socket, a.path);
      case 'send-server': {
        const socket = this.#sockets.get(a.socket);
        if (socket?.readyState === WebSocket.OPEN) socket.send(a.text);
        return;
      }
      case 'close-socket': {
        const socket = this.#sockets.get(a.socket);
        this.#sockets.delete(a.socket);
        return socket?.close(a.code, a.reason);
      }
      case 'crypto': return void this.#rpc('run', a.op).then(
        (result) => {
          // #if testing
          this.#logSealed(a.op, result);
          // #endif
          this.#input((c, t) => c.crypto(a.request, result, t));
        },
        (error) => this.#input((c, t) => c.crypto(a.request, JSON.stringify({ failed: { code: error.code ?? 'internal', message: String(error.message) } }), t)));
      case 'create-peer': return this.#createPeer(a.peer, a.conn);
      case 'attach-local-media-and-transforms': return this.#op(a, 'attach', (c) => this.#attachLocal(c, a.role));
      case 'protect-new-transceivers': return this.#op(a, 'protect', (c) => this.#protectAll(c));
      case 'create-offer': return this.#op(a, 'create-offer', ({ pc }) => pc.createOffer({ iceRestart: a.ice_restart }));
      case 'create-answer': return this.#op(a, 'create-answer', ({ pc }) => pc.createAnswer());
      case 'set-local-description': return this.#op(a, 'set-local-description', ({ pc }) => pc.setLocalDescription({ type: a.kind, sdp: a.sdp }));
      case 'set-remote-description': return this.#op(a, 'set-remote-description', ({ pc }) => pc.setRemoteDescription({ type: a.kind, sdp: a.sdp }));
      case 'rollback': return this.#op(a, 'rollback', ({ pc }) => pc.setLocalDescription({ type: 'rollback' }));
      case 'add-ice-candidate':
        // #if testing
        this.#candidatesAdded.push(a.candidate.candidate);
        // #endif
        return this.#op(a, 'add-ice-candidate', ({ pc }) => pc.addIceCandidate({ candidate: a.candidate.candidate, sdpMid: a.candidate.sdp_mid, sdpMLineIndex: a.candidate.sdp_m_line_index }));
      case 'close-peer':
        this.#conns.delete(a.conn);
        return conn?.pc.close();
      case 'block-sender': // the invariant tripped: that sender never sends again
        for (const t of this.#transceivers(conn, a.kind)) {
          this.#blocked.add(t.sender);
          t.sender.replaceTrack(null).catch(() => {});
        }
        return;
      case 'set-sender-track':
        for (const t of this.#transceivers(conn, a.kind)) {
          if (this.#blocked.has(t.sender) || !this.#isProtected(t)) continue;
          const done = t.sender.replaceTrack(this.#local[a.kind] ?? null);
          if (this.#trackUpdates) this.#trackUpdates.push(done);
          else done.catch(() => {});
        }
        return;
      case 'sample-senders': return void this.#sample(a.conns);
      case 'send-chat-frame':
        try {
          conn?.chat.send(new Uint8Array(a.data));
        } catch { /* the channel closed meanwhile: the core hears of it */ }
        return;
      case 'emit': return this.#emit(a.event);
      default: throw new SottoError('internal', `unknown action ${a.type}`);
    }
  }

  // A WebRTC operation the core waits for: its outcome goes back as an input (a description
  // made, done, or failed).
  #op(a, op, run) {
    const conn = this.#conns.get(a.conn);
    new Promise((resolve) => resolve(conn ? run(conn) : Promise.reject(new Error('the connection is closed')))).then(
      (description) => this.#input((c, t) => (op.startsWith('create-') ? c.descriptionCreated(a.conn, description.type, description.sdp, t) : c.peerOpDone(a.conn, op, t))),
      (error) => this.#input((c, t) => c.peerOpFailed(a.conn, op, String(error?.message ?? error), t)));
  }

  // The core's event: an application event, or a promise to settle.
  #emit(event) {
    const { type, ...detail } = event;
    switch (type) {
      case 'joined': return this.#joined?.resolve();
      case 'join-failed': return this.#joined?.reject(callError(event.error));
      case 'chat-sent':
      case 'chat-failed': {
        const pending = this.#chats.get(event.request);
        this.#chats.delete(event.request);
        return type === 'chat-sent' ? pending?.resolve(event.delivered) : pending?.reject(callError(event.error));
      }
      case 'error': return this.#dispatch('error', callError(detail));
      case 'closed': return this.#shutDown();
      case 'participant-joined':
        this.#warmUp();
        break;
      case 'participant-left': {
        const stream = this.#streams.get(event.peer);
        this.#streams.delete(event.peer);
        for (const track of stream?.getTracks() ?? []) this.#dispatch('track-removed', { peer: event.peer, track, stream });
        break;
      }
      case 'key-epoch':
        if (event.peer === this.peerId) this.epoch = event.epoch;
        break;
      case 'safety-code':
        this.#safety = { words: event.words, hex: event.hex, state: event.state };
        break;
      default:
        break;
    }
    this.#dispatch(type, detail);
  }

  #dispatch(type, detail) {
    const event = new CustomEvent(type, { detail });
    if (this.#held) this.#held.push(event);
    else this.dispatchEvent(event);
  }

  // The core failed (a bug): nothing more is decided, so everything stops (fail closed).
  #broken(error) {
    this.#core = null;
    this.#dispatch('error', new SottoError('internal', `the call core failed: ${error?.message ?? error}`));
    this.#shutDown();
  }

  #fail(error) {
    this.#dispatch('error', error);
    this.close();
  }

  #shutDown() {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#turnTimer);
    for (const { pc } of this.#conns.values()) pc.close();
    for (const socket of this.#sockets.values()) socket.close(1000, 'bye');
    this.#early?.socket?.close(1000, 'bye');
    this.#early = null;
    if (this.#spare) {
      clearTimeout(this.#spare.timer);
      this.#spare.pc.close();
      this.#spare = null;
    }
    this.#conns.clear();
    this.#sockets.clear();
    const closed = new SottoError('closed', 'the call was closed');
    for (const settle of this.#rpcs.values()) settle(null, closed);
    for (const { reject } of this.#chats.values()) reject(closed);
    this.#rpcs.clear();
    this.#chats.clear();
    this.#joined?.reject(closed);
    this.#worker?.terminate();
    if (!this.#pumping) {
      this.#core?.free();
      this.#core = null;
    }
    this.#dispatch('closed');
  }

  // ── the crypto worker ───────────────────────────────────────────────────

  #rpc(op, args, transfer = []) {
    if (this.#closed) return Promise.reject(new SottoError('closed', 'the call was closed'));
    return new Promise((resolve, reject) => {
      const id = ++this.#rpcId;
      this.#rpcs.set(id, (result, error) => (error ? reject(error) : resolve(result)));
      this.#worker.postMessage({ id, op, args }, transfer);
    });
  }

  #settle({ id, ok, result, error }) {
    const settle = this.#rpcs.get(id);
    this.#rpcs.delete(id);
    settle?.(result, ok ? null : new SottoError(error.code, error.message));
  }

  // ── the signaling socket and the peer connections ───────────────────────

  // The room socket's handshake runs while the crypto worker starts (it is the core's first
  // socket, whose path is /ws/room/<room id>; the id is derived here on WebCrypto, as
  // roomIdFor). Nothing is sent on it before the core has it: the core's first open-socket
  // takes it if its path is the same and it is still connecting or open and the server said
  // nothing on it yet; otherwise it is closed and the core's socket opened as usual.
  #preconnect(secret) {
    const early = { path: null, socket: null, heard: false };
    this.#early = early;
    roomIdFor(secret).then((id) => {
      if (this.#early !== early || this.#closed) return;
      early.path = `/ws/room/${id}`;
      early.socket = new WebSocket(`${this.#options.signalingUrl ?? defaultSignalingUrl()}${early.path}`);
      early.socket.onmessage = () => { early.heard = true; };
    }).catch(() => { if (this.#early === early) this.#early = null; });
  }

  #openSocket(id, path) {
    const early = this.#early;
    this.#early = null;
    let socket = early?.socket;
    if (socket && (early.path !== path || early.heard || socket.readyState > WebSocket.OPEN)) {
      socket.close(1000, 'unused');
      socket = null;
    }
    try {
      socket ??= new WebSocket(`${this.#options.signalingUrl ?? defaultSignalingUrl()}${path}`);
    } catch {
      queueMicrotask(() => this.#input((c, t) => c.socketClosed(id, 1006, t)));
      return;
    }
    this.#sockets.set(id, socket);
    if (socket.readyState === WebSocket.OPEN) queueMicrotask(() => this.#input((c, t) => c.socketOpened(id, t)));
    socket.onopen = () => this.#input((c, t) => c.socketOpened(id, t));
    socket.onmessage = ({ data }) => this.#input((c, t) => c.socketMessage(id, typeof data === 'string' ? data : '', t));
    socket.onclose = ({ code }) => {
      this.#sockets.delete(id);
      this.#input((c, t) => c.socketClosed(id, code, t));
    };
  }

  #peerConfig() {
    const config = { iceServers: this.#iceServers };
    // relay-only: the browser gathers no host or server-reflexive candidate at all (and the core
    // drops any such candidate either way)
    if (this.privacy === 'relay') config.iceTransportPolicy = 'relay';
    if (this.#mode === 'insertable-streams') config.encodedInsertableStreams = true;
    return config;
  }

  // A participant was admitted: a connection to it comes soon (once the offer or the key
  // round trip is through). A spare peer connection made now gathers its candidates
  // meanwhile (iceCandidatePoolSize; a TURN allocation in relay mode), and the next
  // create-peer takes it. Nothing about the peer is in it, and nothing it gathers goes
  // anywhere before the core sends it; unused, it is closed after 10 s (and on close).
  #warmUp() {
    if (this.#spare || this.#closed) return;
    try {
      const pc = new RTCPeerConnection({ ...this.#peerConfig(), iceCandidatePoolSize: 1 });
      const timer = setTimeout(() => {
        if (this.#spare?.pc !== pc) return;
        this.#spare = null;
        pc.close();
      }, 10_000);
      this.#spare = { pc, timer };
    } catch { /* no spare: create-peer makes its own */ }
  }

  #createPeer(peer, id) {
    const spare = this.#spare;
    this.#spare = null;
    if (spare) clearTimeout(spare.timer);
    const pc = spare?.pc ?? new RTCPeerConnection(this.#peerConfig());
    const stream = new MediaStream();
    // One pre-negotiated, ordered channel per peer carries sealed chat messages.
    const chat = pc.createDataChannel('sotto-chat', { negotiated: true, id: 0, ordered: true });
    chat.binaryType = 'arraybuffer';
    this.#conns.set(id, { pc, peer, chat });
    this.#streams.set(peer, stream);
    pc.onicecandidate = ({ candidate: c }) => {
      if (c) this.#input((core, t) => core.iceCandidate(id, c.candidate, c.sdpMid, c.sdpMLineIndex, t));
    };
    pc.ontrack = ({ track, transceiver }) => {
      // On the answering side this runs inside setRemoteDescription: the earliest moment the
      // transceiver exists, and late enough transforms are silently skipped for video.
      this.#protect(transceiver, peer, track.kind);
      stream.addTrack(track);
      this.#dispatch('track', { peer, track, stream });
    };
    pc.onconnectionstatechange = () => this.#input((c, t) => c.peerConnectionState(id, pc.connectionState, t));
    chat.onopen = () => this.#input((c, t) => c.dataChannelState(id, true, t));
    chat.onclose = () => this.#input((c, t) => c.dataChannelState(id, false, t));
    chat.onmessage = ({ data }) => this.#input((c, t) => c.chatFrame(id, data instanceof ArrayBuffer ? new Uint8Array(data) : undefined, t));
  }

  // The local media and its transforms, before any description touches the connection: the
  // offerer makes one transceiver per kind (sending the local track, or receive-only); the
  // answerer adds its tracks, so that the offer's m-lines take these transceivers and what
  // this side sends is encrypted whatever the offer's directions.
  #attachLocal(conn, role) {
    conn.role = role;
    // #if testing
    if (role === 'answerer' && this.#options.testUnsafeTransformOrder) return; // see #protectAll
    // #endif
    const streams = this.localStream ? [this.localStream] : [];
    for (const kind of ['audio', 'video']) {
      const track = this.#local[kind];
      if (role === 'offerer') {
        const transceiver = track ? conn.pc.addTransceiver(track, { direction: 'sendrecv', streams }) : conn.pc.addTransceiver(kind, { direction: 'recvonly' });
        preferCodec(transceiver, kind, this.#options.videoCodec);
        this.#protect(transceiver, conn.peer, kind);
      } else if (track) {
        const sender = conn.pc.addTrack(track, ...streams);
        this.#protect(conn.pc.getTransceivers().find((t) => t.sender === sender), conn.peer, kind);
      }
    }
  }

  // Transceivers a remote offer made (media this side does not send) get their transforms
  // too, before the answer.
  #protectAll(conn) {
    // #if testing
    // The order this client used before issue 11 (offer applied, then tracks and transforms):
    // lets an e2e test show that the invariant catches media that bypassed encryption.
    if (conn.role === 'answerer' && this.#options.testUnsafeTransformOrder) {
      return Promise.all(conn.pc.getTransceivers().map(async (t) => {
        const kind = t.receiver.track.kind;
        if (this.#local[kind]) {
          await t.sender.replaceTrack(this.#local[kind]);
          t.sender.setStreams?.(this.localStream);
          t.direction = 'sendrecv';
        } else {
          t.direction = 'recvonly';
        }
        this.#protect(t, conn.peer, kind);
      }));
    }
    // #endif
    for (const t of conn.pc.getTransceivers()) this.#protect(t, conn.peer, t.receiver.track.kind);
  }

  #transceivers(conn, kind) {
    return conn?.pc.getTransceivers().filter((t) => t.receiver.track.kind === kind) ?? [];
  }

  // Transforms must be attached before a description that covers the transceiver is applied,
  // or Chromium silently skips the sender's (media then leaves under DTLS-SRTP only): every
  // path attaches them right where the transceiver is made, and the core's invariant stops
  // any sender whose media bypassed its transform all the same.
  #protect(transceiver, peer, kind) {
    if (this.#protected.has(transceiver)) return;
    this.#protected.add(transceiver);
    this.#attach(transceiver.sender, { role: 'encrypt', peer, kind });
    this.#attach(transceiver.receiver, { role: 'decrypt', peer, kind });
  }

  #isProtected(transceiver) {
    return this.#mode === 'none' || this.#protected.has(transceiver);
  }

  #attach(senderOrReceiver, options) {
    if (this.#mode === 'none') return;
    options.id = ++this.#transformSeq;
    this.#transformIds.set(senderOrReceiver, options.id);
    if (this.#mode === 'script-transform') {
      senderOrReceiver.transform = new RTCRtpScriptTransform(this.#worker, options);
    } else {
      const { readable, writable } = senderOrReceiver.createEncodedStreams();
      this.#rpc('stream', { options, readable, writable }, [readable, writable]).catch(() => {});
    }
  }

  // The invariant's figures, for the core: per sender with a track, what the browser sent
  // (read first) and what its encrypt transform saw (read after, from the worker), so frames
  // in flight can only make the transform's count larger.
  async #sample(ids) {
    const senders = [];
    for (const id of ids) {
      for (const { sender } of this.#conns.get(id)?.pc.getTransceivers() ?? []) {
        if (sender.track && !this.#blocked.has(sender)) senders.push({ id, sender, kind: sender.track.kind, transform: this.#transformIds.get(sender) });
      }
    }
    const packed = [];
    try {
      for (const s of senders) s.sent = await sentBy(s.sender, s.kind).catch(() => null);
      const seen = await this.#rpc('transformCounts', { ids: senders.map((s) => s.transform).filter(Boolean) });
      for (const s of senders) {
        if (s.sent !== null) packed.push(s.id, s.kind === 'video' ? 1 : 0, s.sent, s.transform ? (seen[s.transform] ?? 0) : 0);
      }
    } catch { /* the call closed meanwhile */ }
    this.#input((c, t) => c.senderSamples(Float64Array.from(packed), t));
  }
}

function abortError(signal) {
  return new SottoError('aborted', 'join aborted', { cause: signal.reason });
}

function throwIfAborted(signal) {
  if (signal?.aborted) throw abortError(signal);
}

// An error the core reported: its code and message, and what it is about.
function callError({ code, message, peer, kind, reason }) {
  const error = new SottoError(code, message);
  for (const [key, value] of Object.entries({ peer, kind, reason })) if (value !== undefined) error[key] = value;
  return error;
}

/** What `sender` has sent so far: video frames encoded, or audio packets. */
async function sentBy(sender, kind) {
  let sent = 0;
  for (const s of (await sender.getStats()).values()) {
    if (s.type === 'outbound-rtp') sent += (kind === 'video' ? s.framesEncoded : s.packetsSent) ?? 0;
  }
  return sent;
}

// Opus for audio; for video the application's choice (VP8 by default). The crypto worker
// reads each frame's negotiated codec and keeps the codec's own headers in the clear.
const VIDEO_CODECS = ['VP8', 'H264', 'VP9', 'AV1'];

function preferCodec(transceiver, kind, videoCodec = 'VP8') {
  const wanted = kind === 'video' ? `video/${videoCodec}` : 'audio/opus';
  const capabilities = RTCRtpReceiver.getCapabilities?.(kind);
  if (!capabilities || typeof transceiver.setCodecPreferences !== 'function') return;
  const codecs = capabilities.codecs;
  const preferred = codecs.filter((c) => c.mimeType.toLowerCase() === wanted.toLowerCase());
  const rest = codecs.filter((c) => c.mimeType.toLowerCase() !== wanted.toLowerCase() && !/rtx|red|ulpfec|flexfec/i.test(c.mimeType));
  const helpers = codecs.filter((c) => /rtx|red|ulpfec|flexfec/i.test(c.mimeType));
  if (preferred.length) transceiver.setCodecPreferences([...preferred, ...rest, ...helpers]);
}
