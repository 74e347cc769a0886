// Type declarations for the Sotto client (sotto.js).

/** An error with a stable `code` that applications can switch on. */
export declare class SottoError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions);
}

/** Makes a new room secret (32 random bytes, base64url). Keep it in a URL fragment only. */
export declare function generateRoomSecret(): Promise<string>;
/** A link to a new room: `base` (default: this page) with a fresh secret as its fragment. */
export declare function createRoomLink(base?: string | URL): Promise<string>;
/** The room secret in a link's fragment; throws SottoError `bad-room-link` if there is none. */
export declare function roomSecretFromLink(link: string | URL): string;
/** The room id the server sees for a secret. */
export declare function roomIdFor(secret: string): Promise<string>;
/** Which frame-transform API this browser offers, or null if it cannot encrypt frames. */
export declare function e2eeSupport(): 'script-transform' | 'insertable-streams' | null;

export interface JoinOptionsBase {
  /** Camera and microphone to send; a promise of them lets joining start during the camera prompt. */
  localStream?: MediaStream | Promise<MediaStream>;
  /** ws(s)://host of the signaling worker; default: this page's origin. */
  signalingUrl?: string;
  iceServers?: RTCIceServer[];
  /** URL of sotto-worker.js when a bundler moved it. */
  workerUrl?: string | URL;
  /** Aborts joining; once joined, aborting closes the call (same as `close()`). */
  signal?: AbortSignal;
  /** Preferred video codec (default 'VP8'); each is encrypted codec-aware (H.264 NAL by NAL,
   *  AV1 OBU by OBU). */
  videoCodec?: 'VP8' | 'H264' | 'VP9' | 'AV1';
  /** false sends media WITHOUT end-to-end encryption (benchmarks, diagnostics); default true. */
  e2ee?: boolean;
  /** Reconnect backoff for the signaling socket (default 250 ms doubling to 4 s, with jitter). */
  reconnect?: { baseMs: number; maxMs: number };
  /** Ping interval on the signaling socket (default 15 s). */
  keepaliveMs?: number;
  /** A peer whose media path stays down this long (from the first loss) is removed and keys rotate (default 15 s). */
  peerTimeoutMs?: number;
  /** How long a 'disconnected' path may last before the offering side restarts ICE (default 2 s; 'failed' restarts as soon as the back-off allows). */
  iceRestartDelayMs?: number;
  /** ICE restarts of one connection are at least this far apart, doubling (default 1 s)... */
  iceBackoffBaseMs?: number;
  /** ...up to this (default 8 s). */
  iceBackoffMaxMs?: number;
  /** How long a connection must stay up for its restart back-off to start over (default 10 s). */
  stableConnectionMs?: number;
  /** A new connection not up within this is restarted; a participant without one asks again (default 5 s). */
  negotiationTimeoutMs?: number;
  /** After a signaling rejoin, how long a still-connected peer may take to rejoin (default 10 s). */
  rejoinGraceMs?: number;
  /** After a membership change, how long the new sender key waits for every participant's
   *  acknowledgement before it is used anyway (default 1 s). */
  switchTimeoutMs?: number;
  /** How long a connected participant's key may be missing before it is shown as
   *  'waiting-for-keys' and asked for (default 3 s). */
  keyWaitMs?: number;
  /** Constant-bitrate Opus, so audio frame sizes do not follow speech (default true). The
   *  audio-level header extensions are never negotiated. */
  constantBitrateAudio?: boolean;
  /** The name the others see (sent to each participant sealed: the server never sees it).
   *  Trimmed, at most 64 characters, control characters removed. */
  displayName?: string;
  /** 'relay': media only through a TURN relay (credentials from the signaling worker's
   *  /api/turn-credentials; joinCall rejects if there are none), so no participant learns this
   *  one's IP addresses; no host or server-reflexive candidate is gathered, sent or accepted.
   *  Default 'default' (direct paths when they work). */
  privacy?: 'default' | 'relay';
  /** Identity keys (base64url) the application verified before (in another call): such
   *  participants start `verified`. */
  verifiedIdentities?: string[];
}

/** Join with the room secret, or with a whole room link (the secret is its fragment). */
export type JoinOptions =
  | (JoinOptionsBase & { /** base64url room secret from the URL fragment. */ roomSecret: string; link?: undefined })
  | (JoinOptionsBase & { /** a room link such as `location.href`; its fragment is the secret. */ link: string; roomSecret?: undefined });

/** The safety code (commit, then reveal: a man in the middle cannot choose it). */
export interface SafetyCode {
  /** 'verifying': a round is under way, no code yet; 'ready': compare it; 'failed': a
   *  participant's reveal did not match its commitment (not verified). */
  state: 'verifying' | 'ready' | 'failed';
  /** 5 words (40 bits) to read aloud; empty unless ready. */
  words: string[];
  /** The full code, 64 hex digits (256 bits), to compare as a fingerprint; empty unless ready. */
  hex: string;
}

export interface Participant {
  /** Its identity key (base64url), opened from its sealed identity. */
  identity: string;
  /** The name it sent, if any. */
  name: string | null;
  /** Marked verified with `setVerified` (or through `verifiedIdentities`), for this identity key. */
  verified: boolean;
  stream: MediaStream | undefined;
  connectionState: RTCPeerConnectionState;
  /** Epoch of the newest key this participant holds from that peer. */
  epoch: number | null;
  /** Whether that peer's key is here: 'new' (none yet), 'ready', 'waiting-for-keys'. */
  keyState: 'new' | ParticipantKeyState;
}

export type ParticipantKeyState = 'ready' | 'waiting-for-keys';

export interface AudioEnergy {
  energy: number;
  duration: number;
}

export interface MediaStatsEntry {
  framesReceived: number;
  framesDecoded: number;
  framesEncoded: number;
  videoPacketsReceived: number;
  audioPacketsReceived: number;
  bytesReceived: number;
  /** Negotiated codec of the received video, e.g. 'video/VP8'. */
  videoCodec: string | null;
}

export interface PeerCryptoStats {
  decrypted: number;
  dropped_unknown_key: number;
  dropped_auth: number;
  dropped_replay: number;
}

export interface CryptoStats {
  /** Counters of the crypto core: encrypted, decrypted, dropped_* (with reasons), blocked,
   *  chat_*, and `peers`: the same per remote peer. */
  crypto: (Record<string, number> & { peers?: Record<string, PeerCryptoStats> }) | null;
  frames: {
    encrypt: { audio: number; video: number };
    decrypt: { audio: number; video: number };
    droppedBeforeKeys: number;
  };
  lastError: { encrypt: string | null; decrypt: string | null };
  /** The check that no media leaves without passing its encrypt transform. */
  invariant: {
    /** How many times the senders were checked (every second). */
    checks: number;
    /** Senders stopped because they sent more than their transform saw. */
    trips: number;
    /** Last check, per sender with a track: frames (video) or packets (audio) the browser
     *  sent, frames the encrypt transform saw, and whether it was stopped. */
    senders: { peer: string; kind: 'audio' | 'video'; sent: number; seen: number; blocked: boolean }[];
    /** Each sender stopped, with its figures at that moment. */
    stopped: { peer: string; kind: 'audio' | 'video'; sent: number; seen: number }[];
  };
  /** Chat that arrived before its sender's key: kept up to 5 s, then dropped. */
  chat: { buffered: number; deliveredLate: number; dropped: number; waiting: number };
  /** Roster entries from the server that were refused (bad-roster-entry, forged-participant). */
  rosterRejections: number;
  /** Roster entries whose sealed identity did not open (forged-participant errors). */
  forgedParticipants: number;
  /** Sealed envelopes refused: altered or forged (`rejected`), replayed (`replayed`). */
  envelopes: { rejected: number; replayed: number };
  /** ICE candidates by type, sent and received (after opening), and those relay-only dropped. */
  candidates: { sentRelay: number; sentOther: number; receivedRelay: number; receivedOther: number; dropped: number };
}

/** left: the server said so; vanished: media path down past peerTimeoutMs; replaced: same id,
 *  new sealed identity; rejected: the announced identity is unusable. */
export type ParticipantLeftReason = 'left' | 'vanished' | 'replaced' | 'rejected';

/** Why the server's roster entry was refused (bad-roster-entry errors). */
export type RosterRejection = 'own-peer-id' | 'bad-peer-id' | 'duplicate-peer' | 'bad-identity' | 'too-many-peers' | 'forged-participant';

export interface CallEventMap {
  /** A participant whose sealed identity opened with the room secret (the server cannot make one). */
  'participant-joined': CustomEvent<{ peer: string; identity: string; verified: boolean; name?: string }>;
  /** A participant's display name arrived or changed. */
  'participant-name': CustomEvent<{ peer: string; name: string }>;
  /** `setVerified` took effect. */
  'verification-changed': CustomEvent<{ peer: string; identity: string; verified: boolean }>;
  /** Warning: a verified participant came back with another identity key ('key-changed',
   *  `previous` is the verified key), or an unverified participant joined a call in which
   *  someone was verified ('unverified-joined'). An `error` with code `verified-key-changed`
   *  comes with it. */
  'verified-key-changed': CustomEvent<{ peer: string; identity: string; previous?: string; reason: 'key-changed' | 'unverified-joined' }>;
  'participant-left': CustomEvent<{ peer: string; reason: ParticipantLeftReason }>;
  /** Whether this participant holds a usable key from `peer`. */
  'participant-state': CustomEvent<{ peer: string; state: ParticipantKeyState }>;
  'ice-restart': CustomEvent<{ peer: string; attempt: number }>;
  track: CustomEvent<{ peer: string; track: MediaStreamTrack; stream: MediaStream }>;
  /** A remote track is gone (its participant left or vanished). */
  'track-removed': CustomEvent<{ peer: string; track: MediaStreamTrack; stream: MediaStream }>;
  'connection-state': CustomEvent<{ peer: string; state: RTCPeerConnectionState }>;
  'key-epoch': CustomEvent<{ peer: string; epoch: number }>;
  'safety-code': CustomEvent<SafetyCode>;
  /** 'reconnecting' (socket lost), 'resyncing' (rejoining on purpose after every peer vanished), 'connected'. */
  'signaling-state': CustomEvent<{ state: 'reconnecting' | 'resyncing' | 'connected'; code?: number }>;
  /** A SottoError; some carry details: `peer` (unencrypted-media-blocked, bad-roster-entry,
   *  forged-participant, envelope-rejected, envelope-replayed, verified-key-changed,
   *  key-not-acknowledged, chat-rejected, negotiation-failed, and a key or chat refused),
   *  `kind` (unencrypted-media-blocked), `reason` (bad-roster-entry and forged-participant: the
   *  rejection; envelope-rejected: the crypto code; verified-key-changed: 'key-changed' or
   *  'unverified-joined'). */
  error: CustomEvent<SottoError & { peer?: string; kind?: 'audio' | 'video'; reason?: string }>;
  chat: CustomEvent<{ from: string; text: string }>;
  'mute-changed': CustomEvent<{ kind: 'audio' | 'video'; muted: boolean }>;
  'screen-share': CustomEvent<{ active: boolean; track: MediaStreamTrack }>;
  'local-track-replaced': CustomEvent<{ kind: string; track: MediaStreamTrack; previous: MediaStreamTrack | null }>;
  closed: CustomEvent<void>;
}

export declare class Call extends EventTarget {
  readonly peerId: string;
  /** false only when the application opted out of end-to-end encryption. */
  readonly encrypted: boolean;
  /** How frames reach the crypto worker; 'none' only with `e2ee: false`. */
  readonly frameTransform: 'script-transform' | 'insertable-streams' | 'none';
  /** The epoch of the sender key this participant sends under (changes once a rotation completed). */
  readonly epoch: number | null;
  readonly roomId: string | null;
  /** This participant's identity key (base64url). */
  readonly identity: string | null;
  /** 'relay' when media goes through a TURN relay only. */
  readonly privacy: 'default' | 'relay';
  readonly localStream: MediaStream | null;
  readonly participants: Map<string, Participant>;
  constructor(options: JoinOptions);
  start(signal?: AbortSignal): Promise<void>;
  /** The current safety code (the last `safety-code` event). */
  safetyCode(): Promise<SafetyCode>;
  /** Marks `peer` verified (people compared the safety code) or not; throws `bad-argument` for
   *  someone not in the call. The mark belongs to the peer's identity key. */
  setVerified(peer: string, verified?: boolean): void;
  cryptoStats(): Promise<CryptoStats>;
  mediaStats(): Promise<Record<string, MediaStatsEntry>>;
  /** Running totals of audio energy (getStats `totalAudioEnergy`, `totalSamplesDuration`), received
   *  per remote participant (from the decoded audio) and sent from the local track; the mean
   *  level between two calls is `sqrt(Δenergy / Δduration)`. Nothing of it crosses the wire. */
  audioLevels(): Promise<{ local: AudioEnergy | null; peers: Record<string, AudioEnergy> }>;
  /** Mutes or unmutes the local microphone ('audio') or camera ('video'). */
  setMuted(kind: 'audio' | 'video', muted: boolean): void;
  isMuted(kind: 'audio' | 'video'): boolean;
  /** Sends `track` instead of the local track of its kind to everyone; returns the replaced one. */
  replaceTrack(track: MediaStreamTrack): Promise<MediaStreamTrack | null>;
  /** Switches camera or microphone by device id; stops the previous track. */
  switchDevice(kind: 'audio' | 'video', deviceId: string): Promise<MediaStreamTrack>;
  /** Shares the screen instead of the camera; call the returned function to go back. */
  shareScreen(): Promise<() => Promise<void>>;
  /** Sends an end-to-end encrypted chat message to everyone; resolves with how many peers got it. */
  sendChat(text: string): Promise<number>;
  close(): void;
  addEventListener<K extends keyof CallEventMap>(type: K, listener: (event: CallEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
}

/** Joins (or starts) the call for `options.roomSecret`. */
export declare function joinCall(options: JoinOptions): Promise<Call>;
