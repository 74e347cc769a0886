// createCallFrame(container, options): the embedding page's side of the iframe embed
// (embed.html on the widget's origin). The call runs inside a cross-origin iframe: this page
// never gets the keys, the safety code or the chat text, only the events embed.js chooses to
// send (states, participants, connection and key states, error codes). postMessage both ways
// with origin checks: messages are sent only to the widget's origin, and taken only from the
// iframe's window at that origin.
//
//   const frame = createCallFrame(document.querySelector('#call'), {
//     embedUrl: 'https://call.example.org/embed.html', link: roomLink, displayName: 'Ada' });
//   frame.addEventListener('participant-joined', ({ detail }) => console.log(detail.peer));
//
// The iframe gets allow="camera; microphone; display-capture; autoplay" (without it the
// browser refuses the camera, the microphone and screen sharing inside the frame).
const SECRET = /^[A-Za-z0-9_-]{43}$/;
export const FRAME_ALLOW = 'camera; microphone; display-capture; autoplay';

export class CallFrame extends EventTarget {
  #origin;
  #pending = new Map();
  #nextId = 1;
  #onMessage;
  #options;

  constructor(container, options = {}) {
    super();
    if (!(container instanceof Element)) throw new TypeError('createCallFrame: container must be an element');
    const embed = new URL(options.embedUrl ?? '', location.href);
    if (embed.protocol !== 'https:' && embed.protocol !== 'http:') throw new TypeError('createCallFrame: embedUrl must be an http(s) URL');
    let secret = options.roomSecret;
    if (options.link !== undefined) secret = new URL(options.link, location.href).hash.slice(1);
    if (!SECRET.test(secret ?? '')) throw new TypeError('createCallFrame: link (or roomSecret) has no room secret');
    this.#origin = embed.origin;
    this.#options = options;
    embed.hash = `${secret}&parent=${encodeURIComponent(location.origin)}`;
    /** The iframe (cross-origin: its document is not reachable from this page). */
    this.iframe = document.createElement('iframe');
    this.iframe.allow = FRAME_ALLOW;
    this.iframe.title = options.title ?? 'Encrypted call';
    this.iframe.referrerPolicy = 'no-referrer';
    this.iframe.style.border = '0';
    this.iframe.style.width = options.width ?? '100%';
    this.iframe.style.height = options.height ?? '100%';
    /** Resolves once the frame announced itself (its `ready` message). */
    this.ready = new Promise((resolve) => { this.#resolveReady = resolve; });
    this.#onMessage = (event) => this.#receive(event);
    window.addEventListener('message', this.#onMessage);
    this.iframe.src = embed.href;
    container.append(this.iframe);
  }

  #resolveReady;

  /** The widget's origin: the only one messages go to and come from. */
  get origin() { return this.#origin; }

  #receive(event) {
    if (event.source !== this.iframe.contentWindow || event.origin !== this.#origin) return;
    const data = event.data;
    if (data?.sotto !== 'frame' || typeof data.type !== 'string') return;
    const detail = data.detail ?? {};
    if (data.type === 'ready') {
      const o = this.#options;
      this.#send({ type: 'configure', options: { displayName: o.displayName, privacy: o.privacy, videoCodec: o.videoCodec, cameraOff: o.cameraOff, micOff: o.micOff, autojoin: o.autojoin } });
      this.#resolveReady();
    } else if (data.type === 'reply') {
      const pending = this.#pending.get(detail.id);
      if (!pending) return;
      this.#pending.delete(detail.id);
      if (detail.error) pending.reject(Object.assign(new Error(detail.error.message), { code: detail.error.code }));
      else pending.resolve();
      return;
    }
    this.dispatchEvent(new CustomEvent(data.type, { detail }));
  }

  #send(message) {
    this.iframe.contentWindow?.postMessage({ sotto: 'controller', ...message }, this.#origin);
  }

  #command(type, fields = {}) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#send({ type, id, ...fields });
    });
  }

  /** Joins (when created with autojoin: false). */
  join() { return this.#command('join'); }
  /** Leaves the call; the frame stays (with a Join again button). */
  leave() { return this.#command('leave'); }
  /** Mutes or unmutes the microphone ('audio') or camera ('video') inside the frame. */
  setMuted(kind, muted) { return this.#command('set-muted', { kind, muted }); }
  /** Shares the screen (browsers may require a click inside the frame for this). */
  shareScreen() { return this.#command('share-screen'); }
  /** Stops sharing the screen. */
  stopScreenShare() { return this.#command('stop-share'); }

  /** Removes the iframe (which ends the call) and stops listening. */
  destroy() {
    window.removeEventListener('message', this.#onMessage);
    for (const { reject } of this.#pending.values()) reject(Object.assign(new Error('the frame was destroyed'), { code: 'closed' }));
    this.#pending.clear();
    this.iframe.remove();
  }
}

/** Puts the call iframe into `container` and returns its controller. */
export function createCallFrame(container, options) {
  return new CallFrame(container, options);
}
