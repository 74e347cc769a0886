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
 * codec="VP9" camera-off mic-off autojoin>`: an end-to-end encrypted call in a shadow root.
 */
export declare class SottoCallElement extends HTMLElement {
  /** The Call (sotto.js) while joined, else null. */
  readonly call: Call | null;
  readonly state: SottoCallState;
  /** STUN/TURN servers for joinCall (no attribute). */
  iceServers?: RTCIceServer[];
  /** Identity keys verified in an earlier call (no attribute). */
  verifiedIdentities?: string[];
  join(options?: { media?: boolean }): Promise<void>;
  leave(): void;
  setMuted(kind?: 'audio' | 'video', muted?: boolean): void;
  shareScreen(): Promise<() => Promise<void>>;
  setVerified(peer: string, verified?: boolean): void;
  addEventListener<K extends keyof SottoCallElementEventMap>(type: K, listener: (this: SottoCallElement, event: SottoCallElementEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
}

declare global {
  interface HTMLElementTagNameMap { 'sotto-call': SottoCallElement; }
}
