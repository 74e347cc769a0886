// Type declarations for the <sotto-call> custom element (sotto-call-element.js).
import type { Call, CallEventMap, SottoError } from './sotto.js';

/** 'idle' (Join button), 'joining', 'in-call', 'failed' (a failure panel with its code), 'left'. */
export type SottoCallState = 'idle' | 'joining' | 'in-call' | 'failed' | 'left';

export interface SottoCallElementEventMap extends CallEventMap {
  state: CustomEvent<{ state: SottoCallState; code?: string }>;
  joined: CustomEvent<{ peerId: string; encrypted: boolean }>;
  /** The Call's errors, and a join that failed: `media-denied`, `media-missing`, `media-busy`,
   *  `e2ee-unsupported`, `room-full`, `signaling-unavailable`, `call-ended`, ... */
  error: CustomEvent<SottoError & { peer?: string; kind?: 'audio' | 'video'; reason?: string }>;
}

/**
 * `<sotto-call link="https://…#secret" signaling="wss://…" name="Ada" privacy="relay"
 * codec="VP9" camera-off mic-off camera-id="…" microphone-id="…" autojoin>`: an end-to-end
 * encrypted call in a shadow root. `camera-id`/`microphone-id`: the `deviceId`s to open
 * (from `enumerateDevices()`; a device that is gone gives way to the default one).
 * `verified-key-changed` is cancelable: `preventDefault()` keeps the element's banner hidden
 * (for a page that shows its own warning).
 */
export declare class SottoCallElement extends HTMLElement {
  /** The Call (sotto.js) while joined, else null. */
  readonly call: Call | null;
  readonly state: SottoCallState;
  /** STUN/TURN servers for joinCall (no attribute). */
  iceServers?: RTCIceServer[];
  /** Identity keys verified in an earlier call (no attribute). */
  verifiedIdentities?: string[];
  /** A stream to join with instead of opening camera and microphone (e.g. a lobby's preview):
   *  taken by the next `join()` (the property goes back to null) and stopped when the call
   *  ends; `camera-off`/`mic-off` apply to it. */
  localStream: MediaStream | null;
  join(options?: { media?: boolean }): Promise<void>;
  leave(): void;
  setMuted(kind?: 'audio' | 'video', muted?: boolean): void;
  shareScreen(): Promise<() => Promise<void>>;
  setVerified(peer: string, verified?: boolean): void;
  addEventListener<K extends keyof SottoCallElementEventMap>(type: K, listener: (this: SottoCallElement, event: SottoCallElementEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
}

/**
 * Whether this browser can encode (so send) a camera track's pictures: false for a camera whose
 * frames have no pixel format an encoder takes (a depth or infrared camera), which would send
 * no video at all. Read from one frame where the browser allows it (MediaStreamTrackProcessor);
 * true where it cannot tell. The element runs it on the camera it joins with (a banner says so).
 */
export declare function canSendVideo(track: MediaStreamTrack, timeoutMs?: number): Promise<boolean>;

declare global {
  interface HTMLElementTagNameMap { 'sotto-call': SottoCallElement; }
}
