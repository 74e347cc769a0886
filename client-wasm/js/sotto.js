// Sotto client: end-to-end encrypted calls in the browser.
//
//   page (this module)                      crypto worker (sotto-worker.js + wasm)
//   ───────────────────                     ──────────────────────────────────────
//   WebSocket to the signaling worker       identity key, sender/receive keys (HPKE)
//   RTCPeerConnection per remote peer  ──►  SFrame encrypt/decrypt of every frame
//   events for the application              safety code, chat sealing, counters
//
// The room secret comes from the URL fragment and never leaves the browser: the server
// only sees the room id derived from it. Every media frame is encrypted before it leaves
// and decrypted after it arrives, inside the worker.
import initWasm, { generateRoomSecret as wasmGenerateRoomSecret, roomIdForSecret } from './sotto_client_wasm.js';

const PROTOCOL_VERSION = 1;
const MAX_CHAT_BYTES = 16 * 1024;

/** An error with a stable `code` an application can switch on. */
export class SottoError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'SottoError';
    this.code = code;
  }
}

let wasmLoaded = null;
function loadWasm() {
  wasmLoaded ??= initWasm(); // the glue finds the .wasm beside itself
  return wasmLoaded;
}

/** Makes a new room secret (32 random bytes, base64url). Put it in a URL fragment only. */
export async function generateRoomSecret() {
  await loadWasm();
  return wasmGenerateRoomSecret();
}

const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

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

/** The room id the server will see for a secret (useful for diagnostics). */
export async function roomIdFor(secret) {
  await loadWasm();
  return roomIdForSecret(secret);
}

/** Which frame-transform API this browser offers: 'script-transform', 'insertable-streams' or null. */
export function e2eeSupport() {
  if (typeof RTCRtpScriptTransform === 'function') return 'script-transform';
  if (typeof RTCRtpSender !== 'undefined' && 'createEncodedStreams' in RTCRtpSender.prototype) return 'insertable-streams';
  return null;
}

function randomPeerId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

function defaultSignalingUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}`;
}

/**
 * Joins (or starts) the call for `roomSecret`.
 * @param {object} options
 * @param {string} [options.roomSecret] base64url secret from the URL fragment
 * @param {string} [options.link] a room link (its fragment is the secret), instead of roomSecret
 * @param {MediaStream} [options.localStream] camera/microphone to send
 * @param {string} [options.signalingUrl] ws(s)://host of the signaling worker (default: this origin)
 * @param {RTCIceServer[]} [options.iceServers]
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
 *  track, track-removed, connection-state, ice-restart, key-epoch, safety-code,
 *  signaling-state, chat, error, closed (and mute-changed, local-track-replaced, screen-share
 *  for local media). */
export class Call extends EventTarget {
  #options;
  #worker;
  #rpcId = 0;
  #pending = new Map();
  #socket = null;
  #peers = new Map();
  #queue = Promise.resolve();
  #closed = false;
  #mode;
  #protected = new WeakSet();
  #localStreamReady;
  // The fail-open invariant: every transform has an id, the crypto worker counts the frames
  // each one sees, and senders whose media bypassed their transform are stopped (blocked).
  #transformIds = new WeakMap();
  #transformSeq = 0;
  #blocked = new WeakSet();
  #invariant = { checks: 0, trips: 0, senders: [], stopped: [] };
  #tickTimer = null;
  #checking = false;
  // Key rotation in two phases: the pending key's epoch, the peers it still waits for, and
  // the timer that commits it anyway after switchTimeoutMs.
  #rotation = null;
  #lastRequestedRotation = -Infinity;
  #rosterRejections = 0;
  // Chat sealed under a key that has not arrived yet (`chat-key-pending`), kept briefly.
  #chatBuffer = [];
  #chatTimer = null;
  #chatStats = { buffered: 0, deliveredLate: 0, dropped: 0 };

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
    this.peerId = randomPeerId();
    this.roomId = null;
    this.identity = null;
    // A MediaStream, or a promise of one: the worker and the socket start while the user is
    // still answering the camera prompt, and nothing is negotiated before the stream is there.
    this.localStream = options.localStream instanceof MediaStream ? options.localStream : null;
    this.#localStreamReady = Promise.resolve(options.localStream ?? null);
    /** This participant's current sender-key epoch. */
    this.epoch = null;
  }

  /** Remote participants: peer id -> { identity, stream, connectionState, epoch }. */
  get participants() {
    const out = new Map();
    for (const [id, p] of this.#peers) {
      out.set(id, { identity: p.identity, stream: p.stream, connectionState: p.pc?.connectionState ?? 'new', epoch: p.epoch, keyState: p.keyState ?? 'new' });
    }
    return out;
  }

  async start(signal) {
    throwIfAborted(signal);
    // Written out in one expression so that bundlers recognise and bundle the worker.
    this.#worker = this.#options.workerUrl
      ? new Worker(this.#options.workerUrl, { type: 'module', name: 'sotto-crypto' })
      : new Worker(new URL('./sotto-worker.js', import.meta.url), { type: 'module', name: 'sotto-crypto' });
    this.#worker.onmessage = (event) => this.#onWorkerMessage(event.data);
    this.#worker.onerror = (event) => this.#fail(new SottoError('worker-failed', `crypto worker failed: ${event.message}`));
    const { roomId, identity } = await this.#rpc('init', { secret: this.#options.roomSecret, peerId: this.peerId });
    // The worker has the secret now; the page keeps no reference to it (a JS string cannot be
    // wiped, but it can at least be left to the garbage collector).
    this.#options = { ...this.#options, roomSecret: undefined, link: undefined };
    this.roomId = roomId;
    this.identity = identity;
    throwIfAborted(signal);
    // Once a second: the fail-open invariant, and whether every connected peer's key is here.
    this.#tickTimer = setInterval(() => {
      this.#checkSenders();
      this.#enqueue(() => this.#checkKeys());
    }, TICK_MS);
    // Server messages wait in the queue until the local media is ready.
    this.#enqueue(async () => { this.localStream = await this.#localStreamReady; });
    const aborted = new Promise((_, reject) => {
      signal?.addEventListener('abort', () => reject(abortError(signal)), { once: true });
    });
    aborted.catch(() => {}); // only raced below
    await Promise.race([Promise.all([this.#connectSignaling(signal), this.#localStreamReady]), aborted]);
    throwIfAborted(signal);
    this.#startKeepalive();
  }

  /**
   * Frame counters from the crypto worker, and `invariant`: how often the senders were checked
   * for media that bypassed encryption (`checks`), how many were stopped for it (`trips`), and
   * the last figures per sender (`senders`: peer, kind, `sent` by the browser, `seen` by the
   * encrypt transform, `blocked`), and the figures of each sender when it was stopped
   * (`stopped`).
   */
  async cryptoStats() {
    const stats = await this.#rpc('stats');
    return {
      ...stats,
      invariant: { ...this.#invariant, senders: this.#invariant.senders.map((e) => ({ ...e })), stopped: this.#invariant.stopped.map((e) => ({ ...e })) },
      chat: { ...this.#chatStats, waiting: this.#chatBuffer.length },
      rosterRejections: this.#rosterRejections,
    };
  }

  /** Current safety code `{digits, words}`: compare it out loud with the others. */
  safetyCode() {
    return this.#rpc('safetyCode');
  }

  /** Media statistics per remote peer (frames received and decoded, audio packets). */
  async mediaStats() {
    const out = {};
    for (const [id, peer] of this.#peers) {
      const entry = { framesReceived: 0, framesDecoded: 0, videoPacketsReceived: 0, audioPacketsReceived: 0, framesEncoded: 0, bytesReceived: 0, videoCodec: null };
      if (peer.pc) {
        const report = await peer.pc.getStats();
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
   * Sends a chat message to everyone in the call, end-to-end encrypted with this
   * participant's current sender key (chat label). Resolves with the number of peers it
   * was handed to; rejects with `no-peers` when nobody is connected to receive it.
   */
  async sendChat(text) {
    if (typeof text !== 'string' || text.length === 0) throw new SottoError('bad-argument', 'chat text must be a non-empty string');
    if (new TextEncoder().encode(text).length > MAX_CHAT_BYTES) throw new SottoError('chat-too-large', `chat messages are limited to ${MAX_CHAT_BYTES} bytes`);
    const sealed = await this.#rpc('sealChat', { text });
    let delivered = 0;
    for (const peer of this.#peers.values()) {
      if (peer.chat?.readyState === 'open') {
        peer.chat.send(sealed);
        delivered += 1;
      }
    }
    if (delivered === 0) throw new SottoError('no-peers', 'nobody is connected to receive the message');
    return delivered;
  }

  /** Mutes or unmutes this participant's microphone ('audio') or camera ('video'). */
  setMuted(kind, muted) {
    const tracks = this.localStream?.getTracks().filter((t) => t.kind === kind) ?? [];
    if (tracks.length === 0) throw new SottoError('no-track', `there is no local ${kind} track`);
    for (const track of tracks) track.enabled = !muted;
    this.dispatchEvent(new CustomEvent('mute-changed', { detail: { kind, muted } }));
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
    const old = this.localStream?.getTracks().find((t) => t.kind === track.kind) ?? null;
    for (const peer of this.#peers.values()) {
      for (const transceiver of peer.pc?.getTransceivers() ?? []) {
        // A sender stopped by the invariant stays stopped, and none without its transform sends.
        if (this.#blocked.has(transceiver.sender) || !this.#isProtected(transceiver)) continue;
        if (transceiver.sender.track === old || (transceiver.receiver.track.kind === track.kind && !transceiver.sender.track)) {
          await transceiver.sender.replaceTrack(track);
        }
      }
    }
    if (this.localStream) {
      if (old) this.localStream.removeTrack(old);
      this.localStream.addTrack(track);
    }
    this.dispatchEvent(new CustomEvent('local-track-replaced', { detail: { kind: track.kind, track, previous: old } }));
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
    this.dispatchEvent(new CustomEvent('screen-share', { detail: { active: true, track } }));
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      track.onended = null;
      track.stop();
      if (camera && !this.#closed) await this.replaceTrack(camera);
      this.dispatchEvent(new CustomEvent('screen-share', { detail: { active: false, track } }));
    };
    track.onended = () => { stop().catch((error) => this.#emitError(error)); };
    return stop;
  }

  // #if testing
  // Test build only (see scripts/package-client.sh): hooks for the e2e suite.

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
    this.#closed = true;
    try { this.#send({ type: 'leave' }); } catch { /* socket already gone */ }
    this.#socket?.close(1000, 'bye');
    clearTimeout(this.#reconnectTimer);
    clearInterval(this.#keepaliveTimer);
    clearInterval(this.#tickTimer);
    clearTimeout(this.#rotation?.timer);
    clearTimeout(this.#chatTimer);
    this.#chatBuffer = [];
    for (const peer of this.#peers.values()) {
      peer.pc?.close();
      clearPeerTimers(peer);
      clearTimeout(peer.resendTimer);
    }
    this.#peers.clear();
    for (const { reject } of this.#pending.values()) reject(new SottoError('closed', 'the call was closed'));
    this.#pending.clear();
    this.#worker?.terminate();
    this.dispatchEvent(new CustomEvent('closed'));
  }

  // ── worker RPC ───────────────────────────────────────────────────────────

  #rpc(op, args, transfer = []) {
    if (this.#closed) return Promise.reject(new SottoError('closed', 'the call was closed'));
    const id = ++this.#rpcId;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, op, args }, transfer);
    });
  }

  #onWorkerMessage(message) {
    const pending = this.#pending.get(message?.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    if (message.ok) pending.resolve(message.result);
    else pending.reject(new SottoError(message.error.code, message.error.message));
  }

  // ── signaling ────────────────────────────────────────────────────────────

  // Opens the signaling socket and joins; resolves on the first welcome. After that, a lost
  // socket is reopened with exponential backoff and jitter, and the call goes on: media is
  // peer to peer and does not need the server.
  #connectSignaling(signal) {
    return new Promise((resolve, reject) => {
      let settled = false;
      const abort = () => { this.#socket?.close(); reject(abortError(signal)); };
      signal?.addEventListener('abort', abort, { once: true });
      this.#openSocket({
        onWelcome: () => {
          if (settled) return;
          settled = true;
          signal?.removeEventListener('abort', abort);
          resolve();
        },
        onRefused: (error) => {
          if (settled) return;
          settled = true;
          reject(error);
        },
      });
    });
  }

  #openSocket(first) {
    const base = this.#options.signalingUrl ?? defaultSignalingUrl();
    const socket = new WebSocket(`${base}/ws/room/${encodeURIComponent(this.roomId)}`);
    this.#socket = socket;
    let welcomed = false;
    socket.onopen = () => this.#send({ type: 'join', peer: this.peerId, identity: this.identity });
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        this.#emitError(new SottoError('bad-server-message', 'the server sent something that is not JSON'));
        return;
      }
      if (message?.type === 'welcome') {
        welcomed = true;
        this.#reconnectAttempt = 0;
        first?.onWelcome();
        if (this.#everWelcomed) this.dispatchEvent(new CustomEvent('signaling-state', { detail: { state: 'connected' } }));
        this.#everWelcomed = true;
      }
      if (message?.type === 'error' && !welcomed && !this.#everWelcomed) {
        first?.onRefused(new SottoError(message.code ?? 'server-error', message.message ?? 'the server refused to join'));
      }
      this.#enqueue(() => this.#onServerMessage(message));
    };
    socket.onclose = (event) => {
      if (this.#closed || socket !== this.#socket) return;
      if (!this.#everWelcomed) {
        first?.onRefused(new SottoError('signaling-unavailable', `signaling closed before joining (${event.code})`));
        return;
      }
      this.dispatchEvent(new CustomEvent('signaling-state', { detail: { state: 'reconnecting', code: event.code } }));
      this.#scheduleReconnect();
    };
  }

  #reconnectAttempt = 0;
  #everWelcomed = false;
  #reconnectTimer = null;
  #keepaliveTimer = null;

  #scheduleReconnect() {
    const { baseMs, maxMs } = this.#options.reconnect ?? { baseMs: 250, maxMs: 4000 };
    const ceiling = Math.min(maxMs, baseMs * 2 ** this.#reconnectAttempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2); // "equal jitter"
    this.#reconnectAttempt += 1;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => { if (!this.#closed) this.#openSocket(null); }, delay);
  }

  #resyncSignaling() {
    if (this.#closed || this.#socket?.readyState !== WebSocket.OPEN) return;
    this.dispatchEvent(new CustomEvent('signaling-state', { detail: { state: 'resyncing' } }));
    this.#socket.close(1000, 'resync'); // onclose reconnects with the usual backoff
  }

  #startKeepalive() {
    clearInterval(this.#keepaliveTimer);
    this.#keepaliveTimer = setInterval(() => {
      if (this.#socket?.readyState === WebSocket.OPEN) this.#send({ type: 'ping' });
    }, this.#options.keepaliveMs ?? 15_000);
  }

  #send(message) {
    if (this.#socket?.readyState !== WebSocket.OPEN) throw new SottoError('signaling-unavailable', 'not connected');
    this.#socket.send(JSON.stringify({ v: PROTOCOL_VERSION, ...message }));
  }

  #sendToPeer(to, payload) {
    this.#send({ type: 'signal', to, payload: JSON.stringify(payload) });
  }

  // For messages that are sent again later anyway: false when signaling is down.
  #trySendToPeer(to, payload) {
    if (this.#socket?.readyState !== WebSocket.OPEN) return false;
    this.#sendToPeer(to, payload);
    return true;
  }

  // Everything that touches call state runs in order, one step at a time.
  #enqueue(step) {
    this.#queue = this.#queue.then(step).catch((error) => this.#emitError(error));
    return this.#queue;
  }

  async #onServerMessage(message) {
    if (this.#closed || message?.v !== PROTOCOL_VERSION) return;
    switch (message.type) {
      case 'welcome': {
        // First join, or a rejoin after the signaling socket was lost: reconcile the roster.
        const present = new Map((message.peers ?? []).map(({ peer, identity }) => [peer, identity]));
        let changed = false;
        for (const [peerId, peer] of [...this.#peers]) {
          if (!present.has(peerId) && peer.pc?.connectionState === 'connected') {
            // After a server restart the others rejoin one by one: keep a peer whose media
            // still flows for a grace period, and drop it only if it does not come back.
            peer.unconfirmed = true;
            clearTimeout(peer.rejoinTimer);
            peer.rejoinTimer = setTimeout(() => this.#enqueue(async () => {
              if (this.#peers.get(peerId) !== peer || !peer.unconfirmed) return;
              this.#dropPeer(peerId);
              await this.#rekey();
            }), this.#options.rejoinGraceMs ?? 10_000);
          } else if (present.get(peerId) !== peer.identity) {
            this.#dropPeer(peerId, present.has(peerId) ? 'replaced' : 'left');
            changed = true;
          } else if (peer.pc && ['failed', 'closed'].includes(peer.pc.connectionState)) {
            // Still in the room but our path to it is dead: start over with a fresh connection.
            this.#dropPeer(peerId, 'vanished');
            changed = true;
          }
        }
        for (const [peerId, identity] of present) {
          if (!this.#peers.has(peerId)) {
            this.#peers.set(peerId, newPeer(identity));
            this.dispatchEvent(new CustomEvent('participant-joined', { detail: { peer: peerId } }));
            changed = true;
          }
        }
        if (changed || this.#epochAnnounced === false) await this.#rekey();
        // The newcomer offers to everyone already there; they wait for its offer.
        for (const [peerId, peer] of this.#peers) {
          if (peer.pc) continue;
          this.#afterRotation(async () => {
            if (this.#peers.get(peerId) === peer && !peer.pc && !this.#closed) await this.#offerTo(peerId);
          });
        }
        break;
      }
      case 'peer-joined': {
        const { peer: peerId, identity } = message.peer ?? {};
        const known = this.#peers.get(peerId);
        if (known && known.identity === identity) { // a rejoin after a signaling outage
          known.unconfirmed = false;
          clearTimeout(known.rejoinTimer);
          break;
        }
        if (known) this.#dropPeer(peerId, 'replaced');
        this.#peers.set(peerId, newPeer(identity));
        this.dispatchEvent(new CustomEvent('participant-joined', { detail: { peer: peerId } }));
        await this.#rekey();
        break;
      }
      case 'peer-left': {
        if (!this.#peers.has(message.peer)) return;
        this.#dropPeer(message.peer);
        await this.#rekey();
        break;
      }
      case 'signal':
        await this.#onPeerSignal(message.from, message.payload);
        break;
      case 'error':
        this.#emitError(new SottoError(message.code ?? 'server-error', message.message ?? 'server error'));
        break;
      default:
        break;
    }
  }

  #epochAnnounced = false;

  // reason: 'left' (the server says so), 'vanished' (media path down past the timeout),
  // 'replaced' (same id, new identity), 'rejected' (an unusable roster entry: bad identity
  // key, bad or own peer id).
  #dropPeer(peerId, reason = 'left') {
    const peer = this.#peers.get(peerId);
    if (!peer) return;
    peer.pc?.close();
    clearPeerTimers(peer);
    clearTimeout(peer.resendTimer);
    this.#peers.delete(peerId);
    this.#chatBuffer = this.#chatBuffer.filter((m) => m.from !== peerId);
    for (const track of peer.stream?.getTracks() ?? []) {
      this.dispatchEvent(new CustomEvent('track-removed', { detail: { peer: peerId, track, stream: peer.stream } }));
    }
    this.dispatchEvent(new CustomEvent('participant-left', { detail: { peer: peerId, reason } }));
  }

  // A roster change: a new sender key, sealed to every remaining peer. It stays pending (frames
  // and chat keep the current key, which everyone has) until every peer acknowledged it or
  // switchTimeoutMs passed, so a switch loses nothing. Bad roster entries are reported one
  // by one and left out; the rotation goes on for everyone else. If it fails, the core stops
  // sending until a later one succeeds, and `key-epoch` is not emitted.
  async #rekey() {
    this.#epochAnnounced = true;
    const roster = [...this.#peers].map(([peer, p]) => ({ peer, identity: p.identity }));
    let result;
    try {
      result = await this.#rpc('setRoster', { roster });
    } catch (error) {
      if (error?.code === 'closed') return;
      this.#emitError(new SottoError(error.code ?? 'rotation-incomplete', `the key rotation failed; nothing is sent until one succeeds: ${error.message}`));
      return;
    }
    const { epoch, committed, messages, rejected, safetyCode } = result;
    const waiters = this.#rotation?.waiters ?? [];
    for (const { peer: peerId, reason } of rejected) {
      this.#rosterRejections += 1;
      const error = new SottoError('bad-roster-entry', `the server announced a participant who cannot be in the call (${reason}); that entry is ignored`);
      error.peer = peerId;
      error.reason = reason;
      this.#emitError(error);
      this.#dropPeer(peerId, 'rejected');
    }
    this.dispatchEvent(new CustomEvent('safety-code', { detail: safetyCode }));
    clearTimeout(this.#rotation?.timer);
    this.#rotation = null;
    for (const peer of this.#peers.values()) clearTimeout(peer.resendTimer);
    if (committed) {
      this.#announceEpoch(epoch);
      this.#runAfterRotation(waiters);
      return;
    }
    const timer = setTimeout(() => this.#enqueue(() => this.#commit(epoch)), this.#options.switchTimeoutMs ?? SWITCH_TIMEOUT_MS);
    this.#rotation = { epoch, timer, waiters };
    for (const { to, key } of messages) {
      this.#trySendToPeer(to, { type: 'sender-key', key }); // if the socket is down, the re-send delivers it
      // A peer that has not acknowledged the earlier keys either goes on where it was in the
      // re-send backoff: rotations do not restart it.
      this.#scheduleResend(to, epoch, this.#peers.get(to)?.resendAttempt ?? 0);
    }
  }

  // Switches sending to the pending key of `epoch` (unless it was replaced meanwhile).
  async #commit(epoch) {
    if (this.#rotation?.epoch !== epoch) return;
    const { timer, waiters } = this.#rotation;
    clearTimeout(timer);
    this.#rotation = null;
    this.#announceEpoch(await this.#rpc('commit'));
    this.#runAfterRotation(waiters);
  }

  // New connections start (offer, or answer to a newcomer's offer) only once this
  // participant's pending key is committed: its media then never reaches a new peer under
  // the key before, which that peer does not get. The wait is one acknowledgement round trip
  // (at most switchTimeoutMs).
  #afterRotation(step) {
    if (this.#rotation) this.#rotation.waiters.push(step);
    else this.#enqueue(step);
  }

  #runAfterRotation(waiters) {
    for (const step of waiters) this.#enqueue(step);
  }

  #announceEpoch(epoch) {
    this.epoch = epoch;
    this.dispatchEvent(new CustomEvent('key-epoch', { detail: { peer: this.peerId, epoch } }));
  }

  // The newest key this participant made: pending, or else current.
  #newestEpoch() {
    return this.#rotation?.epoch ?? this.epoch;
  }

  // A key the peer has not acknowledged is sent again after 1 s, 2 s and 4 s; if the last
  // one goes unanswered for 4 s more, `key-not-acknowledged` is reported (once, until the peer
  // acknowledges a key again). The receiver asks on its own too (`key-request`).
  #scheduleResend(peerId, epoch, attempt) {
    const peer = this.#peers.get(peerId);
    if (!peer) return;
    clearTimeout(peer.resendTimer);
    if (attempt > RESEND_DELAYS_MS.length) return; // reported already
    // A rotation meanwhile keeps the step that was due (rotations do not postpone it).
    const now = performance.now();
    if (!(attempt > 0 && peer.resendDueAt > now)) peer.resendDueAt = now + RESEND_DELAYS_MS[Math.min(attempt, RESEND_DELAYS_MS.length - 1)];
    peer.resendTimer = setTimeout(() => this.#enqueue(async () => {
      peer.resendDueAt = 0;
      if (this.#peers.get(peerId) !== peer || peer.ackedEpoch >= epoch || this.#newestEpoch() !== epoch) return;
      if (this.#socket?.readyState !== WebSocket.OPEN) {
        this.#scheduleResend(peerId, epoch, attempt); // signaling is down: try again later
        return;
      }
      peer.resendAttempt = attempt + 1;
      if (attempt === RESEND_DELAYS_MS.length) {
        const error = new SottoError('key-not-acknowledged', `a participant acknowledged none of this participant's keys through ${attempt} re-sends; it cannot decrypt what is sent to it`);
        error.peer = peerId;
        this.#emitError(error);
        return;
      }
      await this.#resendKey(peerId);
      this.#scheduleResend(peerId, epoch, attempt + 1);
    }), peer.resendDueAt - now);
  }

  async #resendKey(peerId) {
    const { to, key } = await this.#rpc('reseal', { peer: peerId });
    this.#sendToPeer(to, { type: 'sender-key', key });
  }

  async #onKeyAck(from, peer, epoch) {
    if (!Number.isSafeInteger(epoch) || epoch < 0) {
      this.#emitError(new SottoError('bad-peer-message', 'a peer acknowledged a key with a malformed epoch'));
      return;
    }
    peer.ackedEpoch = Math.max(peer.ackedEpoch, epoch);
    if (peer.ackedEpoch >= this.#newestEpoch()) {
      clearTimeout(peer.resendTimer);
      peer.resendAttempt = 0;
    }
    if (this.#rotation?.epoch !== epoch) return; // an ack of a re-sent current key, or of a replaced one
    const { complete } = await this.#rpc('acknowledge', { from, epoch });
    if (complete) await this.#commit(epoch);
  }

  // The peer holds no usable key from this participant. The newest key (pending, else
  // current) is sealed to it again. But a current key the peer had (it acknowledged it) is no
  // use to it any more: it dropped someone, or a leave was forged, and now accepts only keys
  // made after that; then only a rotation helps. A peer that keeps asking for the same key it
  // never acknowledged (KEY_REQUESTS_BEFORE_ROTATION times: its acknowledgements may have been
  // lost) gets a rotation too, after the re-send. Rotating sooner would not help a peer whose
  // keys are being dropped, and would strand chat sealed under the key it is still missing.
  // At most one answer per second per peer, and one such rotation per second.
  async #onKeyRequest(from, peer) {
    const now = performance.now();
    if (now - peer.lastKeyAnswerAt < KEY_REQUEST_INTERVAL_MS) return;
    peer.lastKeyAnswerAt = now;
    const newest = this.#newestEpoch();
    if (peer.requested?.epoch !== newest) peer.requested = { epoch: newest, count: 0 };
    peer.requested.count += 1;
    const hadIt = !this.#rotation && newest !== null && peer.ackedEpoch >= newest;
    const rotate = !this.#rotation && (hadIt || peer.requested.count >= KEY_REQUESTS_BEFORE_ROTATION);
    if (!hadIt) await this.#resendKey(from);
    if (rotate && now - this.#lastRequestedRotation >= KEY_REQUEST_INTERVAL_MS) {
      this.#lastRequestedRotation = now;
      await this.#rekey();
    }
  }

  async #onSenderKey(from, peer, key) {
    let received;
    try {
      received = await this.#rpc('receiveKey', { from, key });
    } catch (error) {
      // Refused (stale, forged, for someone else): the peer stays without a key, the key
      // check keeps asking for a fresh one.
      this.#emitError(new SottoError(error.code ?? 'key-exchange-failed', `a key from a peer was rejected: ${error.message}`));
      return;
    }
    const { epoch, duplicate } = received;
    this.#sendToPeer(from, { type: 'key-ack', epoch });
    if (!duplicate && (peer.epoch === null || epoch > peer.epoch)) {
      peer.epoch = epoch;
      this.dispatchEvent(new CustomEvent('key-epoch', { detail: { peer: from, epoch } }));
    }
    peer.missingSince = null;
    this.#setKeyState(from, peer, 'ready');
    await this.#retryChats(from);
  }

  #setKeyState(peerId, peer, state) {
    if (peer.keyState === state) return;
    peer.keyState = state;
    this.dispatchEvent(new CustomEvent('participant-state', { detail: { peer: peerId, state } }));
  }

  // Every second: a connected peer whose key this participant has not held for keyWaitMs is
  // shown as 'waiting-for-keys' (its media cannot be decrypted), and is asked for its key
  // (`key-request`, at most once a second) until one arrives; then it is 'ready' again.
  async #checkKeys() {
    const connected = [...this.#peers].filter(([, p]) => p.pc?.connectionState === 'connected').map(([id]) => id);
    if (connected.length === 0 || this.#closed) return;
    const held = await this.#rpc('keysFrom', { peers: connected });
    const now = performance.now();
    const waitMs = this.#options.keyWaitMs ?? KEY_WAIT_MS;
    for (const id of connected) {
      const peer = this.#peers.get(id);
      if (!peer) continue;
      if (held[id]) {
        peer.missingSince = null;
        this.#setKeyState(id, peer, 'ready');
        continue;
      }
      // Never had a key: counted from when the media path came up.
      peer.missingSince ??= peer.keyState === 'new' ? (peer.connectedAt ?? now) : now;
      if (now - peer.missingSince < waitMs) continue;
      this.#setKeyState(id, peer, 'waiting-for-keys');
      if (now - peer.lastKeyRequestAt >= KEY_REQUEST_INTERVAL_MS && this.#trySendToPeer(id, { type: 'key-request' })) {
        peer.lastKeyRequestAt = now;
      }
    }
  }

  async #onPeerSignal(from, payloadText) {
    const peer = this.#peers.get(from);
    if (!peer) return;
    let payload;
    try {
      payload = JSON.parse(payloadText);
    } catch {
      this.#emitError(new SottoError('bad-peer-message', 'a peer sent a message that is not JSON'));
      return;
    }
    switch (payload?.type) {
      case 'sender-key':
        await this.#onSenderKey(from, peer, payload.key);
        break;
      case 'key-ack':
        await this.#onKeyAck(from, peer, payload.epoch);
        break;
      case 'key-request':
        await this.#onKeyRequest(from, peer);
        break;
      case 'offer':
        if (isRenegotiation(peer)) await this.#answer(from, payload.sdp);
        else this.#afterRotation(async () => { if (this.#peers.get(from) === peer && !this.#closed) await this.#answer(from, payload.sdp); });
        break;
      case 'answer':
        await peer.pc?.setRemoteDescription({ type: 'answer', sdp: this.#tuneSdp(payload.sdp) });
        await this.#flushCandidates(peer);
        break;
      case 'ice':
        if (peer.pc?.remoteDescription) await peer.pc.addIceCandidate(iceFromPayload(payload));
        else (peer.pendingCandidates ??= []).push(iceFromPayload(payload));
        break;
      default:
        break;
    }
  }

  // ── WebRTC ───────────────────────────────────────────────────────────────

  #createPeerConnection(peerId) {
    const config = { iceServers: this.#options.iceServers ?? [] };
    if (this.#mode === 'insertable-streams') config.encodedInsertableStreams = true;
    const pc = new RTCPeerConnection(config);
    const peer = this.#peers.get(peerId);
    peer.pc = pc;
    peer.stream = new MediaStream();
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.#sendToPeer(peerId, { type: 'ice', candidate: candidate.candidate, sdp_mid: candidate.sdpMid, sdp_m_line_index: candidate.sdpMLineIndex });
    };
    pc.ontrack = ({ track, transceiver }) => {
      // On the answering side this runs inside setRemoteDescription: the earliest moment the
      // transceiver exists, and late enough transforms are silently skipped for video.
      this.#protect(transceiver, peerId, track.kind);
      peer.stream.addTrack(track);
      this.dispatchEvent(new CustomEvent('track', { detail: { peer: peerId, track, stream: peer.stream } }));
    };
    // One pre-negotiated, ordered channel per peer carries sealed chat messages.
    const chat = pc.createDataChannel('sotto-chat', { negotiated: true, id: 0, ordered: true });
    chat.binaryType = 'arraybuffer';
    chat.onmessage = (event) => this.#enqueue(() => this.#onChat(peerId, event.data));
    peer.chat = chat;
    pc.onconnectionstatechange = () => this.#onConnectionState(peerId, pc);
    return pc;
  }

  // Recovery of the media path to one peer. 'connected' clears everything. Otherwise the
  // offerer restarts ICE at once on 'failed', or after `iceRestartDelayMs` of 'disconnected',
  // and again with backoff while the path stays down; both sides drop the peer (and rotate
  // keys) when the path has been down for `peerTimeoutMs`, counted from the first loss.
  #onConnectionState(peerId, pc) {
    const peer = this.#peers.get(peerId);
    if (!peer || peer.pc !== pc) return;
    const state = pc.connectionState;
    this.dispatchEvent(new CustomEvent('connection-state', { detail: { peer: peerId, state } }));
    if (state === 'connected') {
      clearPeerTimers(peer, { keepRejoin: true });
      peer.iceRestarts = 0;
      peer.connectedAt ??= performance.now();
      // The first checks of this connection's senders come soon after media starts (then
      // the once-a-second tick goes on).
      const earlyCheck = (i) => {
        peer.checkTimer = setTimeout(() => {
          this.#checkSenders();
          if (i + 1 < EARLY_CHECKS_MS.length) earlyCheck(i + 1);
        }, EARLY_CHECKS_MS[i] - (EARLY_CHECKS_MS[i - 1] ?? 0));
      };
      earlyCheck(0);
      return;
    }
    if (state !== 'failed' && state !== 'disconnected') return;
    peer.vanishTimer ??= setTimeout(() => this.#enqueue(async () => {
      if (this.#peers.get(peerId)?.pc !== pc || pc.connectionState === 'connected') return;
      this.#dropPeer(peerId, 'vanished');
      await this.#rekey();
      // Everyone vanished at once: more likely this participant was the one cut off (a frozen
      // tab, a laptop lid) while the server still lists the others. Rejoining signaling gets
      // a fresh roster, and the others see a newcomer and rekey, so the call heals.
      if (this.#peers.size === 0) this.#resyncSignaling();
    }), this.#options.peerTimeoutMs ?? 15_000);
    if (peer.role !== 'offerer') return; // one side restarts, so offers never cross
    const delay = state === 'failed' ? 0 : (this.#options.iceRestartDelayMs ?? 2_000);
    if (peer.restartTimer && state !== 'failed') return;
    clearTimeout(peer.restartTimer);
    peer.restartTimer = setTimeout(() => this.#enqueue(() => this.#restartIce(peerId, pc)), delay);
  }

  async #restartIce(peerId, pc) {
    const peer = this.#peers.get(peerId);
    if (!peer || peer.pc !== pc || this.#closed || pc.connectionState === 'connected' || pc.connectionState === 'closed') {
      if (peer) peer.restartTimer = null;
      return;
    }
    // An earlier restart offer that was never answered (the peer is unreachable) is taken back.
    if (pc.signalingState === 'have-local-offer') await pc.setLocalDescription({ type: 'rollback' });
    if (pc.signalingState !== 'stable') {
      peer.restartTimer = null;
      return;
    }
    peer.iceRestarts = (peer.iceRestarts ?? 0) + 1;
    this.dispatchEvent(new CustomEvent('ice-restart', { detail: { peer: peerId, attempt: peer.iceRestarts } }));
    const offer = await pc.createOffer({ iceRestart: true });
    const sdp = this.#tuneSdp(offer.sdp);
    await pc.setLocalDescription({ type: 'offer', sdp });
    this.#sendToPeer(peerId, { type: 'offer', sdp });
    // If the path is still down after a while, try again (2 s, 4 s, 8 s ... capped at 8 s).
    const retryMs = Math.min(8_000, (this.#options.iceRestartDelayMs ?? 2_000) * 2 ** (peer.iceRestarts - 1));
    peer.restartTimer = setTimeout(() => this.#enqueue(() => this.#restartIce(peerId, pc)), retryMs);
  }

  // Transforms must be attached before a description that covers the transceiver is applied,
  // or Chromium silently skips the sender's (media then leaves under DTLS-SRTP only): every
  // path attaches them right where the transceiver is made, and #checkSenders() stops any
  // sender whose media bypassed its transform all the same.
  #protect(transceiver, peerId, kind) {
    if (this.#protected.has(transceiver)) return;
    this.#protected.add(transceiver);
    this.#attach(transceiver.sender, { role: 'encrypt', peer: peerId, kind });
    this.#attach(transceiver.receiver, { role: 'decrypt', peer: peerId, kind });
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
      this.#rpc('stream', { options, readable, writable }, [readable, writable]);
    }
  }

  async #offerTo(peerId) {
    const pc = this.#createPeerConnection(peerId);
    this.#peers.get(peerId).role = 'offerer';
    for (const kind of ['audio', 'video']) {
      const track = this.localStream?.getTracks().find((t) => t.kind === kind) ?? null;
      const transceiver = track
        ? pc.addTransceiver(track, { direction: 'sendrecv', streams: [this.localStream] })
        : pc.addTransceiver(kind, { direction: 'recvonly' });
      preferCodec(transceiver, kind, this.#options.videoCodec);
      this.#protect(transceiver, peerId, kind);
    }
    const offer = await pc.createOffer();
    const sdp = this.#tuneSdp(offer.sdp);
    await pc.setLocalDescription({ type: 'offer', sdp });
    this.#sendToPeer(peerId, { type: 'offer', sdp });
  }

  async #answer(peerId, offerSdp) {
    const peer = this.#peers.get(peerId);
    const offer = { type: 'offer', sdp: this.#tuneSdp(offerSdp) };
    if (isRenegotiation(peer)) {
      // A renegotiation (ICE restart) on the existing connection: transforms stay attached;
      // a transceiver the offer adds gets them in ontrack, or below, before the answer.
      await peer.pc.setRemoteDescription(offer);
      this.#protectAll(peer.pc, peerId);
      await this.#sendAnswer(peerId, peer.pc);
      return;
    }
    peer.pc?.close();
    peer.pc = null;
    const pc = this.#createPeerConnection(peerId);
    peer.role = 'answerer';
    // #if testing
    if (this.#options.testUnsafeTransformOrder) {
      await this.#answerInUnsafeOrder(peerId, pc, offer);
      return;
    }
    // #endif
    // The local tracks go in first, each transceiver with its transforms, and only then is
    // the offer applied: JSEP gives the offer's m-lines to these addTrack transceivers, so
    // what this side sends is encrypted whatever the offer's directions (a receive-only offer
    // used to leave the camera unencrypted). Transceivers the offer creates (media this side
    // does not send) get their transforms in ontrack, or below.
    for (const kind of ['audio', 'video']) {
      const track = this.localStream?.getTracks().find((t) => t.kind === kind);
      if (!track) continue;
      const sender = pc.addTrack(track, this.localStream);
      this.#protect(pc.getTransceivers().find((t) => t.sender === sender), peerId, kind);
    }
    await pc.setRemoteDescription(offer);
    this.#protectAll(pc, peerId);
    await this.#sendAnswer(peerId, pc);
    await this.#flushCandidates(peer);
  }

  #protectAll(pc, peerId) {
    for (const transceiver of pc.getTransceivers()) this.#protect(transceiver, peerId, transceiver.receiver.track.kind);
  }

  async #sendAnswer(peerId, pc) {
    const answer = await pc.createAnswer();
    const sdp = this.#tuneSdp(answer.sdp);
    await pc.setLocalDescription({ type: 'answer', sdp });
    this.#sendToPeer(peerId, { type: 'answer', sdp });
  }

  // #if testing
  // The order this client used before issue 11 (offer applied, then tracks and transforms):
  // lets an e2e test show that the invariant catches media that bypassed encryption.
  async #answerInUnsafeOrder(peerId, pc, offer) {
    await pc.setRemoteDescription(offer);
    for (const transceiver of pc.getTransceivers()) {
      const kind = transceiver.receiver.track.kind;
      const track = this.localStream?.getTracks().find((t) => t.kind === kind) ?? null;
      if (track) {
        await transceiver.sender.replaceTrack(track);
        transceiver.sender.setStreams?.(this.localStream);
        transceiver.direction = 'sendrecv';
      } else {
        transceiver.direction = 'recvonly';
      }
      this.#protect(transceiver, peerId, kind);
    }
    await this.#sendAnswer(peerId, pc);
    await this.#flushCandidates(this.#peers.get(peerId));
  }
  // #endif

  // Audio privacy on every description, local and remote: constant-bitrate Opus (the size of
  // an audio frame no longer follows speech) unless `constantBitrateAudio: false`, and no
  // audio-level header extensions (they carry the speech level in the clear in every packet).
  #tuneSdp(sdp) {
    return tuneAudioSdp(sdp, { constantBitrate: this.#options.constantBitrateAudio !== false });
  }

  // The fail-open invariant, every second and soon after each connection comes up: per
  // sender with a track, what the browser sent (getStats: frames encoded for video, packets
  // for audio) must not run ahead of what its encrypt transform saw. The browser's figures are
  // read first, the worker's after, so in-flight frames can only make the worker's larger. A
  // sender over the margin has been sending media that bypassed encryption: it is stopped
  // (replaceTrack(null), and never given a track again), reported (`error` with code
  // `unencrypted-media-blocked`) and counted.
  async #checkSenders() {
    if (this.#mode === 'none' || this.#checking || this.#closed) return;
    this.#checking = true;
    try {
      const senders = [];
      for (const [peerId, peer] of this.#peers) {
        for (const transceiver of peer.pc?.getTransceivers() ?? []) {
          const { sender } = transceiver;
          if (!sender.track || this.#blocked.has(sender)) continue;
          senders.push({ peer: peerId, kind: sender.track.kind, sender, id: this.#transformIds.get(sender) });
        }
      }
      for (const entry of senders) {
        entry.sent = await sentBy(entry.sender, entry.kind).catch(() => null);
      }
      const seen = await this.#rpc('transformCounts', { ids: senders.map((e) => e.id).filter(Boolean) });
      const report = [];
      for (const entry of senders) {
        if (entry.sent === null) continue; // the connection closed meanwhile
        const count = entry.id ? (seen[entry.id] ?? 0) : 0;
        const leaked = entry.sent > count + INVARIANT_MARGIN;
        report.push({ peer: entry.peer, kind: entry.kind, sent: entry.sent, seen: count, blocked: leaked });
        if (leaked) await this.#block(entry, count);
      }
      this.#invariant.checks += 1;
      this.#invariant.senders = report;
    } catch (error) {
      if (error?.code !== 'closed') this.#emitError(error);
    } finally {
      this.#checking = false;
    }
  }

  async #block({ peer, kind, sender, sent }, seen) {
    this.#blocked.add(sender);
    this.#invariant.trips += 1;
    this.#invariant.stopped.push({ peer, kind, sent, seen });
    await sender.replaceTrack(null).catch(() => {});
    const error = new SottoError('unencrypted-media-blocked',
      `${kind} to a participant was leaving without end-to-end encryption (${sent} sent, ${seen} encrypted); that sender was stopped`);
    error.peer = peer;
    error.kind = kind;
    this.#emitError(error);
  }

  async #flushCandidates(peer) {
    const pending = peer.pendingCandidates ?? [];
    peer.pendingCandidates = [];
    for (const candidate of pending) await peer.pc.addIceCandidate(candidate);
  }

  async #onChat(peerId, data) {
    if (!(data instanceof ArrayBuffer)) {
      this.#emitError(new SottoError('bad-chat-message', 'a chat message was not binary'));
      return;
    }
    const sealed = new Uint8Array(data);
    // Behind a message still waiting for its key: wait too, so each sender's order holds.
    if (this.#chatBuffer.some((m) => m.from === peerId) || (await this.#openChat(peerId, sealed)) === 'pending') {
      this.#bufferChat(peerId, sealed);
    }
  }

  // 'opened', 'pending' (sealed under a key of that sender not here yet) or 'rejected'.
  async #openChat(peerId, sealed) {
    try {
      const text = await this.#rpc('openChat', { from: peerId, sealed });
      this.dispatchEvent(new CustomEvent('chat', { detail: { from: peerId, text } }));
      return 'opened';
    } catch (error) {
      if (error.code === 'chat-key-pending') return 'pending';
      this.#emitError(new SottoError(error.code ?? 'chat-rejected', `a chat message was rejected: ${error.message}`));
      return 'rejected';
    }
  }

  // Keeps a message up to CHAT_WAIT_MS (at most CHAT_BUFFER_MAX in all) for its key.
  #bufferChat(from, sealed) {
    this.#chatStats.buffered += 1;
    this.#chatBuffer.push({ from, sealed, at: performance.now() });
    while (this.#chatBuffer.length > CHAT_BUFFER_MAX) this.#dropChat(this.#chatBuffer.shift(), 'too many chat messages were waiting for their keys');
    this.#scheduleChatExpiry();
  }

  #dropChat(message, why) {
    this.#chatStats.dropped += 1;
    const error = new SottoError('chat-rejected', `a chat message was dropped: ${why}`);
    error.peer = message.from;
    this.#emitError(error);
  }

  #scheduleChatExpiry() {
    clearTimeout(this.#chatTimer);
    this.#chatTimer = null;
    if (this.#chatBuffer.length === 0) return;
    const wait = Math.max(0, this.#chatBuffer[0].at + CHAT_WAIT_MS - performance.now());
    this.#chatTimer = setTimeout(() => this.#enqueue(() => {
      const now = performance.now();
      while (this.#chatBuffer.length && now - this.#chatBuffer[0].at >= CHAT_WAIT_MS) {
        this.#dropChat(this.#chatBuffer.shift(), `its key did not arrive within ${CHAT_WAIT_MS / 1000} s`);
      }
      this.#scheduleChatExpiry();
    }), wait);
  }

  // A key from `from` arrived: its waiting messages are tried again, in order.
  async #retryChats(from) {
    for (const message of this.#chatBuffer.filter((m) => m.from === from)) {
      const outcome = await this.#openChat(from, message.sealed);
      if (outcome === 'pending') break;
      this.#chatBuffer.splice(this.#chatBuffer.indexOf(message), 1);
      if (outcome === 'opened') this.#chatStats.deliveredLate += 1;
    }
    this.#scheduleChatExpiry();
  }

  #emitError(error) {
    const coded = error instanceof SottoError ? error : new SottoError(error?.code ?? 'internal', String(error?.message ?? error));
    this.dispatchEvent(new CustomEvent('error', { detail: coded }));
  }

  #fail(error) {
    this.#emitError(error);
    this.close();
  }
}

function abortError(signal) {
  return new SottoError('aborted', 'join aborted', { cause: signal.reason });
}

function throwIfAborted(signal) {
  if (signal?.aborted) throw abortError(signal);
}

// An offer on a live connection this side answered before (an ICE restart).
function isRenegotiation(peer) {
  return Boolean(peer.pc && peer.role === 'answerer' && peer.pc.signalingState === 'stable' && peer.pc.connectionState !== 'closed');
}

function newPeer(identity) {
  return {
    identity, pc: null, epoch: null, keyState: 'new', ackedEpoch: -1, resendAttempt: 0, resendDueAt: 0,
    missingSince: null, lastKeyRequestAt: -Infinity, lastKeyAnswerAt: -Infinity,
  };
}

function clearPeerTimers(peer, { keepRejoin = false } = {}) {
  clearTimeout(peer.vanishTimer);
  clearTimeout(peer.restartTimer);
  clearTimeout(peer.checkTimer);
  peer.vanishTimer = null;
  peer.restartTimer = null;
  peer.checkTimer = null;
  if (!keepRejoin) clearTimeout(peer.rejoinTimer);
}

function iceFromPayload(payload) {
  return { candidate: payload.candidate, sdpMid: payload.sdp_mid, sdpMLineIndex: payload.sdp_m_line_index };
}

// The fail-open invariant's timing and margin (frames between the encoder and the transform
// when the counters are read).
const TICK_MS = 1000;
const EARLY_CHECKS_MS = [300, 600, 1000];
const INVARIANT_MARGIN = 5;
// Key exchange: how long a pending key waits for every acknowledgement, the re-send backoff,
// how long a connected peer may go without a key before it is shown as waiting, and the
// key-request rate (per peer).
const SWITCH_TIMEOUT_MS = 1000;
const RESEND_DELAYS_MS = [1000, 2000, 4000];
const KEY_WAIT_MS = 3000;
const KEY_REQUEST_INTERVAL_MS = 1000;
const KEY_REQUESTS_BEFORE_ROTATION = 10;
// Chat that arrived before its key.
const CHAT_WAIT_MS = 5000;
const CHAT_BUFFER_MAX = 64;

/** What `sender` has sent so far: video frames encoded, or audio packets. */
async function sentBy(sender, kind) {
  let sent = 0;
  for (const s of (await sender.getStats()).values()) {
    if (s.type === 'outbound-rtp') sent += (kind === 'video' ? s.framesEncoded : s.packetsSent) ?? 0;
  }
  return sent;
}

/** Removes the audio-level header extensions and (if asked) sets `cbr=1` on every Opus payload. */
function tuneAudioSdp(sdp, { constantBitrate = true } = {}) {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  let lines = sdp.split(eol).filter((line) => !/^a=extmap:\S+ \S*audio-level/i.test(line));
  if (constantBitrate) {
    const opus = new Set(lines.map((l) => l.match(/^a=rtpmap:(\d+) opus\//i)?.[1]).filter(Boolean));
    const withFmtp = new Set();
    lines = lines.map((line) => {
      const [, pt, params] = line.match(/^a=fmtp:(\d+) (.*)$/) ?? [];
      if (!pt || !opus.has(pt)) return line;
      withFmtp.add(pt);
      const kept = params.split(';').map((p) => p.trim()).filter((p) => p && !/^cbr=/i.test(p));
      return `a=fmtp:${pt} ${[...kept, 'cbr=1'].join(';')}`;
    });
    lines = lines.flatMap((line) => {
      const pt = line.match(/^a=rtpmap:(\d+) opus\//i)?.[1];
      return pt && !withFmtp.has(pt) ? [line, `a=fmtp:${pt} cbr=1`] : [line];
    });
  }
  return lines.join(eol);
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
