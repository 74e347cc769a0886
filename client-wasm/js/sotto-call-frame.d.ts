// Type declarations for the iframe embed's controller (sotto-call-frame.js).

/** The iframe's `allow` attribute: "camera; microphone; display-capture; autoplay". */
export declare const FRAME_ALLOW: string;

export interface CallFrameOptions {
  /** The embed page on the widget's origin, e.g. 'https://call.example.org/embed.html'. */
  embedUrl: string | URL;
  /** A room link (its fragment is the room secret)... */
  link?: string | URL;
  /** ...or the room secret itself (base64url, 43 characters). */
  roomSecret?: string;
  /** The name the others see (sealed end to end; at most 64 characters). */
  displayName?: string;
  /** 'relay': media only through a TURN relay (hides this participant's IP addresses). */
  privacy?: 'default' | 'relay';
  videoCodec?: 'VP8' | 'H264' | 'VP9' | 'AV1';
  /** Join with the camera off / the microphone muted. */
  cameraOff?: boolean;
  micOff?: boolean;
  /** Join as soon as the frame is ready (default true); false shows the frame's Join button. */
  autojoin?: boolean;
  /** The iframe's title (default 'Encrypted call'), width and height (CSS, default 100%). */
  title?: string;
  width?: string;
  height?: string;
}

/** What the frame tells the embedding page. Never keys, identity keys, the room secret, the
 *  safety code's words or chat text. */
export interface CallFrameEventMap {
  ready: CustomEvent<Record<string, never>>;
  state: CustomEvent<{ state: 'idle' | 'joining' | 'in-call' | 'failed' | 'left'; code?: string }>;
  joined: CustomEvent<{ peerId: string; encrypted: boolean }>;
  'participant-joined': CustomEvent<{ peer: string; verified: boolean; name?: string }>;
  'participant-name': CustomEvent<{ peer: string; name: string }>;
  'participant-left': CustomEvent<{ peer: string; reason: 'left' | 'vanished' | 'replaced' | 'rejected' }>;
  'participant-state': CustomEvent<{ peer: string; state: 'ready' | 'waiting-for-keys' }>;
  'connection-state': CustomEvent<{ peer: string; state: RTCPeerConnectionState }>;
  'ice-restart': CustomEvent<{ peer: string; attempt: number }>;
  'verification-changed': CustomEvent<{ peer: string; verified: boolean }>;
  'verified-key-changed': CustomEvent<{ peer: string; reason: 'key-changed' | 'unverified-joined' }>;
  'signaling-state': CustomEvent<{ state: 'reconnecting' | 'resyncing' | 'connected' }>;
  /** Only the state: the words are shown inside the frame, never sent out. */
  'safety-code': CustomEvent<{ state: 'verifying' | 'ready' | 'failed' }>;
  'mute-changed': CustomEvent<{ kind: 'audio' | 'video'; muted: boolean }>;
  'screen-share': CustomEvent<{ active: boolean }>;
  /** Who wrote; the text stays in the frame. */
  chat: CustomEvent<{ from: string }>;
  error: CustomEvent<{ code: string; message: string; peer?: string; kind?: 'audio' | 'video'; reason?: string }>;
  closed: CustomEvent<Record<string, never>>;
}

export declare class CallFrame extends EventTarget {
  constructor(container: Element, options: CallFrameOptions);
  /** The cross-origin iframe (its document cannot be reached from the embedding page). */
  readonly iframe: HTMLIFrameElement;
  /** The widget's origin: the only origin messages go to and are taken from. */
  readonly origin: string;
  /** Resolves once the frame is ready (and was configured). */
  readonly ready: Promise<void>;
  join(): Promise<void>;
  leave(): Promise<void>;
  setMuted(kind: 'audio' | 'video', muted: boolean): Promise<void>;
  /** Browsers may require a click inside the frame before screen sharing. */
  shareScreen(): Promise<void>;
  stopScreenShare(): Promise<void>;
  /** Removes the iframe (ending the call) and stops listening. */
  destroy(): void;
  addEventListener<K extends keyof CallFrameEventMap>(type: K, listener: (event: CallFrameEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
}

/** Puts the call iframe into `container` and returns its controller. */
export declare function createCallFrame(container: Element, options: CallFrameOptions): CallFrame;
