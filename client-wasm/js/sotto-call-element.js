// <sotto-call>: an end-to-end encrypted call as one custom element, built only on the public
// client API (sotto.js). Load it with one tag and place it:
//
//   <script type="module" src="/node_modules/@sotto/client/sotto-call-element.js"></script>
//   <sotto-call link="https://example.org/call#<secret>" signaling="wss://signal.example.org"></sotto-call>
//
// Shadow DOM (styles through adoptedStyleSheets, so a CSP without 'unsafe-inline' is fine),
// themable with CSS custom properties (--sotto-*) and ::part(). Every event of the Call is
// dispatched again on the element with the same name and detail; `state` events say where
// the element is (idle, joining, in-call, failed, left). See README.md, "The call widget".
import { joinCall, e2eeSupport, roomSecretFromLink, SottoError } from './sotto.js';

const CSS_TEXT = `
:host{display:block;font:var(--sotto-font,14px/1.4 system-ui,sans-serif);color:var(--sotto-fg,#f4f4f6);background:var(--sotto-bg,#17181c);border-radius:var(--sotto-radius,12px);overflow:hidden;min-height:240px;container-type:inline-size}
[hidden]{display:none!important}
*{box-sizing:border-box}
.root{display:flex;flex-direction:column;height:100%;min-height:inherit;padding:8px;gap:8px}
button,input{font:inherit;color:inherit}
button{background:var(--sotto-button-bg,#2e3038);border:1px solid var(--sotto-border,#5a5d6a);border-radius:calc(var(--sotto-radius,12px)/2);padding:8px 12px;min-height:40px;cursor:pointer}
button:hover{background:var(--sotto-button-hover,#3b3e48)}
button[aria-pressed=true]{background:var(--sotto-pressed-bg,#f4f4f6);color:var(--sotto-pressed-fg,#17181c)}
button.danger{background:var(--sotto-danger,#b3261e);border-color:var(--sotto-danger,#b3261e);color:#fff}
button.primary{background:var(--sotto-accent,#2f6fed);border-color:var(--sotto-accent,#2f6fed);color:#fff}
:focus-visible{outline:3px solid var(--sotto-focus,#ffcc33);outline-offset:2px}
input[type=text]{background:var(--sotto-input-bg,#0f1013);border:1px solid var(--sotto-border,#5a5d6a);border-radius:6px;padding:8px;min-width:0;flex:1}
h2{font-size:1em;margin:0 0 4px}
.panel{display:flex;flex-direction:column;align-items:flex-start;gap:8px;padding:16px}
.panel h2{font-size:1.2em}
.actions{display:flex;gap:8px;flex-wrap:wrap}
.call{flex:1;min-height:0;display:flex;flex-direction:column}
.body{display:flex;gap:8px;flex:1;min-height:0}
.grid{list-style:none;margin:0;padding:0;flex:1;display:grid;gap:8px;grid-template-columns:repeat(auto-fit,minmax(min(100%,140px),1fr));align-content:start}
.tile{position:relative;background:var(--sotto-tile-bg,#000);border-radius:calc(var(--sotto-radius,12px)/2);overflow:hidden;aspect-ratio:4/3}
.tile video{width:100%;height:100%;object-fit:cover;display:block}
.tile.local video{transform:scaleX(-1)}
.tile.speaking{outline:4px solid var(--sotto-speaking,#7cc4ff);outline-offset:-4px}
.label{position:absolute;left:6px;bottom:6px;right:6px;display:flex;gap:6px;align-items:center;flex-wrap:wrap}
.label span{background:rgba(0,0,0,.72);color:#fff;padding:2px 6px;border-radius:4px}
.label .muted{background:var(--sotto-danger,#b3261e)}
.label .ok{background:#1d6b36}
.note{position:absolute;top:6px;left:6px;right:6px;background:rgba(0,0,0,.8);color:#fff;padding:4px 8px;border-radius:4px}
.side{width:280px;display:flex;flex-direction:column;gap:8px;min-height:0}
.side section{background:var(--sotto-panel-bg,#22242b);border-radius:calc(var(--sotto-radius,12px)/2);padding:8px}
.words{font:600 1.15em/1.3 ui-monospace,monospace;letter-spacing:.02em;margin:4px 0;word-spacing:.3em}
.hint{margin:0;font-size:.9em;color:var(--sotto-muted-fg,#c9cad1)}
.verify{list-style:none;margin:6px 0 0;padding:0;display:flex;flex-direction:column;gap:4px}
.verify label{display:flex;gap:6px;align-items:center;min-height:32px}
.verify input{width:20px;height:20px}
.log{list-style:none;margin:0 0 6px;padding:0;max-height:180px;overflow:auto;word-break:break-word}
.log b{font-weight:600}
form{display:flex;gap:6px}
.controls{display:flex;gap:8px;flex-wrap:wrap;justify-content:center}
.banner{margin:0;padding:8px 12px;border-radius:6px;background:var(--sotto-warn-bg,#5c4400);color:#fff}
.banner.danger{background:var(--sotto-danger,#b3261e)}
.status{margin:0;min-height:1.4em;font-size:.9em;color:var(--sotto-muted-fg,#c9cad1)}
.code{font-size:.8em;color:var(--sotto-muted-fg,#c9cad1)}
@container (max-width:640px){.body{flex-direction:column}.side{width:auto}.controls button{flex:1 1 40%}}
`;

let sheet = null;
const styles = () => {
  if (!sheet) { sheet = new CSSStyleSheet(); sheet.replaceSync(CSS_TEXT); }
  return sheet;
};

// What the element shows for a join that did not happen, by error code. `retry`: the same
// join may work later; `bare`: joining without camera and microphone is offered.
const FAILURES = {
  'e2ee-unsupported': ['This browser cannot encrypt the call', 'Calls here are end-to-end encrypted, and this browser has no way to encrypt audio and video frames (Encoded Transform). The call will not start without encryption. Use a current Chrome, Edge, Safari or Firefox.'],
  'media-denied': ['Camera and microphone are blocked', 'Allow them for this site (in the address bar), then try again. You can also join without them: you will see and hear the others, they will not see or hear you.', 1, 1],
  'media-missing': ['No camera or microphone found', 'Connect one and try again, or join without them: you will see and hear the others, they will not see or hear you.', 1, 1],
  'media-busy': ['Camera or microphone is busy', 'Another application is using it. Close that application and try again, or join without them.', 1, 1],
  'room-full': ['This call is full', 'The call has as many participants as it can take. Try again when someone has left.', 1],
  'signaling-unavailable': ['Cannot reach the call server', 'Check your connection and try again.', 1],
  'turn-unavailable': ['Cannot reach the relay server', 'Relay-only mode needs the relay server, which did not answer. Try again.', 1],
  'origin-not-allowed': ['This site may not use this call server', 'The call server does not accept calls from this page (its ALLOWED_ORIGINS).'],
  'bad-room-link': ['This call link is incomplete', 'The link has no room secret after its #. Ask for the whole link again.'],
  'bad-argument': ['The call could not start', 'The page gave the call widget an option it does not know.'],
};
const GENERIC_FAILURE = ['The call could not start', 'Something went wrong while joining. Try again.', 1];

// In-call problems, by error code: shown in the banner (the call goes on).
const WARNINGS = {
  'unencrypted-media-blocked': 'A sender was stopped because it tried to send media that was not encrypted. The others may not see or hear you.',
  'rotation-incomplete': 'New encryption keys could not be set up; nothing is sent until they are. Retrying.',
  'worker-failed': 'The encryption worker failed. Leave and join again.',
};

// Speaking indicator: polled 4 times a second; a mean level (0 to 1) above this over one
// interval marks the tile speaking for the hold time (so a word's short pauses do not flicker).
const LEVEL_POLL_MS = 250;
const SPEAKING_LEVEL = 0.02;
const SPEAKING_HOLD_MS = 1200;

const TEXT = {
  mic: ['Mute microphone', 'Unmute microphone'], camera: ['Turn camera off', 'Turn camera on'],
  screen: ['Share screen', 'Stop sharing'],
};

const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'part' || k.startsWith('aria-') || k === 'role' || k.startsWith('data-')) node.setAttribute(k, v);
    else node[k] = v;
  }
  node.append(...children);
  return node;
};

const mediaFailure = (error) => {
  const name = error?.name;
  const code = name === 'NotAllowedError' || name === 'SecurityError' ? 'media-denied'
    : name === 'NotFoundError' || name === 'OverconstrainedError' ? 'media-missing'
      : name === 'NotReadableError' || name === 'AbortError' ? 'media-busy' : 'media-denied';
  return new SottoError(code, `camera or microphone: ${name ?? error}`, { cause: error });
};

export class SottoCallElement extends HTMLElement {
  static observedAttributes = ['link', 'autojoin'];

  #call = null;
  #state = 'idle';
  #stream = null;
  #tiles = new Map(); // peer -> { li, video, name, note, badge }
  #notes = new Map(); // peer -> { keys, connection, ack }
  #stopShare = null;
  #sharing = false;
  #leaving = false;
  #safety = { state: 'verifying', words: [] };
  #levels = null; // { timer, busy, last: Map(peer -> {energy, duration}), until: Map(peer -> ms) }
  #keyWarning = null; // the verified-key-changed in the banner: its text follows the name
  #statusPeer = null; // the participant the status line names
  /** A MediaStream to join with instead of opening the camera and microphone (e.g. a lobby's
   *  preview): used by the next join, then the element owns it (stops it when the call ends). */
  localStream = null;
  #ui;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.adoptedStyleSheets = [styles()];
    const u = {};
    u.banner = el('p', { className: 'banner', part: 'banner', role: 'alert', hidden: true });
    u.joinButton = el('button', { type: 'button', className: 'primary', part: 'join-button', textContent: 'Join the call', onclick: () => this.join() });
    u.prejoin = el('section', { className: 'panel', part: 'prejoin', 'aria-label': 'Join the call' },
      el('p', { textContent: 'An end-to-end encrypted call: the server cannot see or hear it.' }), u.joinButton);
    u.failTitle = el('h2', { tabIndex: -1 });
    u.failText = el('p');
    u.failCode = el('p', { className: 'code' });
    u.retry = el('button', { type: 'button', className: 'primary', textContent: 'Try again', onclick: () => this.join() });
    u.bare = el('button', { type: 'button', textContent: 'Join without camera and microphone', onclick: () => this.join({ media: false }) });
    u.failure = el('section', { className: 'panel', part: 'failure', role: 'alert', hidden: true },
      u.failTitle, u.failText, u.failCode, el('div', { className: 'actions' }, u.retry, u.bare));
    u.grid = el('ul', { className: 'grid', part: 'grid', 'aria-label': 'Participants' });
    u.words = el('p', { className: 'words', part: 'safety-words', 'aria-live': 'polite' });
    u.safetyState = el('p', { className: 'hint' });
    u.verifyList = el('ul', { className: 'verify', 'aria-label': 'Verified participants' });
    u.safety = el('section', { part: 'safety', 'aria-labelledby': 'safety-title' },
      el('h2', { id: 'safety-title', textContent: 'Safety code' }), u.words, u.safetyState,
      el('p', { className: 'hint', textContent: 'Read the words aloud to each other. If everyone has the same words, nobody else is in the call, not even the server. Then mark who you compared with.' }),
      u.verifyList);
    u.log = el('ol', { className: 'log', part: 'chat-log', 'aria-live': 'polite', 'aria-label': 'Messages' });
    u.chatInput = el('input', { type: 'text', maxLength: 4000, autocomplete: 'off', placeholder: 'Message (end-to-end encrypted)', 'aria-label': 'Message' });
    u.chat = el('section', { id: 'chat', part: 'chat', hidden: true, 'aria-labelledby': 'chat-title' },
      el('h2', { id: 'chat-title', textContent: 'Chat' }), u.log,
      el('form', { onsubmit: (e) => { e.preventDefault(); this.#sendChat(); } }, u.chatInput, el('button', { type: 'submit', textContent: 'Send' })));
    u.mic = el('button', { type: 'button', part: 'control control-mic', 'aria-pressed': 'false', textContent: TEXT.mic[0], onclick: () => this.setMuted('audio', !this.#call?.isMuted('audio')) });
    u.camera = el('button', { type: 'button', part: 'control control-camera', 'aria-pressed': 'false', textContent: TEXT.camera[0], onclick: () => this.setMuted('video', !this.#call?.isMuted('video')) });
    u.screen = el('button', { type: 'button', part: 'control control-screen', 'aria-pressed': 'false', textContent: TEXT.screen[0], onclick: () => (this.#stopShare ? this.#stopShare() : this.shareScreen().catch((e) => this.#warn(`Screen sharing did not start: ${e.message}`))) });
    u.chatToggle = el('button', { type: 'button', part: 'control control-chat', 'aria-expanded': 'false', 'aria-controls': 'chat', textContent: 'Chat', onclick: () => this.#toggleChat() });
    u.leave = el('button', { type: 'button', part: 'control control-leave', className: 'danger', textContent: 'Leave', onclick: () => this.leave() });
    u.controls = el('div', { className: 'controls', part: 'controls', role: 'group', 'aria-label': 'Call controls' }, u.mic, u.camera, u.screen, u.chatToggle, u.leave);
    u.call = el('div', { className: 'call', hidden: true },
      el('div', { className: 'body' }, u.grid, el('div', { className: 'side' }, u.safety, u.chat)));
    u.status = el('p', { className: 'status', part: 'status', role: 'status' });
    root.append(el('div', { className: 'root', part: 'root' }, u.banner, u.prejoin, u.failure, u.call, u.controls, u.status));
    u.controls.hidden = true;
    this.#ui = u;
  }

  /** The Call (sotto.js) once joined, else null. */
  get call() { return this.#call; }
  /** 'idle', 'joining', 'in-call', 'failed' or 'left'. */
  get state() { return this.#state; }

  connectedCallback() {
    if (this.hasAttribute('autojoin') && this.#state === 'idle') queueMicrotask(() => this.join());
  }

  attributeChangedCallback(name) {
    if (name === 'autojoin' && this.isConnected) this.connectedCallback();
  }

  disconnectedCallback() {
    // Taken out of the page (not just moved): nothing may keep running (camera, sockets, worker).
    queueMicrotask(() => { if (!this.isConnected && (this.#call || this.#state === 'joining')) this.leave(); });
  }

  /** Joins the call of the `link` attribute. `media: false` joins without camera and microphone. */
  async join({ media = true } = {}) {
    if (this.#state === 'joining' || this.#state === 'in-call') return;
    this.#leaving = false;
    this.#setState('joining');
    const u = this.#ui;
    u.prejoin.hidden = true;
    u.failure.hidden = true;
    u.banner.hidden = true;
    this.#keyWarning = null;
    try {
      // Refused before anything starts: no camera prompt for a call that cannot be encrypted.
      if (!e2eeSupport()) throw new SottoError('e2ee-unsupported', 'this browser cannot encrypt media frames end to end');
      const link = this.getAttribute('link') ?? '';
      roomSecretFromLink(link);
      const wantVideo = media;
      if (media && this.localStream instanceof MediaStream) {
        this.#stream = this.localStream;
        this.localStream = null;
      } else if (media) {
        this.#status('Starting camera and microphone…');
        this.#stream = await getMedia(wantVideo, this.getAttribute('camera-id'), this.getAttribute('microphone-id'));
      }
      if (this.#stream) {
        if (this.hasAttribute('mic-off')) this.#stream.getAudioTracks().forEach((t) => { t.enabled = false; });
        if (this.hasAttribute('camera-off')) this.#stream.getVideoTracks().forEach((t) => { t.enabled = false; });
      }
      this.#status('Joining…');
      // Checked while joining: a camera whose pictures no encoder takes sends nothing at all.
      const video = this.#stream?.getVideoTracks()[0];
      const sendable = video ? canSendVideo(video) : Promise.resolve(true);
      const options = { link, localStream: this.#stream ?? undefined };
      const signalingUrl = this.getAttribute('signaling');
      if (signalingUrl) options.signalingUrl = signalingUrl;
      const displayName = this.getAttribute('name');
      if (displayName) options.displayName = displayName;
      if (this.getAttribute('privacy') === 'relay') options.privacy = 'relay';
      const codec = this.getAttribute('codec');
      if (codec) options.videoCodec = codec.toUpperCase();
      const workerUrl = this.getAttribute('worker-url');
      if (workerUrl) options.workerUrl = workerUrl;
      if (this.iceServers) options.iceServers = this.iceServers;
      if (this.verifiedIdentities) options.verifiedIdentities = this.verifiedIdentities;
      const call = await joinCall(options);
      if (this.#leaving) { call.close(); return; }
      this.#call = call;
      this.#wire(call);
      this.#showCall();
      sendable.then((ok) => {
        if (!ok && this.#call === call) this.#warn(`${video.label || 'Your camera'} gives pictures this browser cannot send: the others will not see you. Leave and join with another camera.`, true);
      });
      this.#setState('in-call');
      this.dispatchEvent(new CustomEvent('joined', { detail: { peerId: call.peerId, encrypted: call.encrypted } }));
    } catch (error) {
      this.#stopMedia();
      if (this.#leaving) return;
      const e = error instanceof SottoError ? error : error instanceof DOMException ? mediaFailure(error) : new SottoError('internal', String(error?.message ?? error));
      this.#fail(e);
    }
  }

  /** Leaves the call; stops camera, microphone and everything the call runs. */
  leave() {
    this.#leaving = true;
    this.#stopShare = null;
    this.#sharing = false;
    const call = this.#call;
    this.#call = null;
    call?.close();
    this.#stopMedia();
    this.#clearTiles();
    const u = this.#ui;
    u.call.hidden = true;
    u.controls.hidden = true;
    u.banner.hidden = true;
    u.prejoin.hidden = false;
    u.joinButton.textContent = 'Join again';
    this.#status('You left the call.');
    this.#setState('left');
  }

  /** Mutes or unmutes the microphone ('audio') or the camera ('video'). */
  setMuted(kind = 'audio', muted = true) {
    if (!this.#call) throw new SottoError('closed', 'not in a call');
    this.#call.setMuted(kind, muted);
  }

  /** Shares the screen instead of the camera; resolves with a function that stops sharing. */
  async shareScreen() {
    if (!this.#call) throw new SottoError('closed', 'not in a call');
    if (this.#stopShare) return this.#stopShare;
    const stop = await this.#call.shareScreen();
    this.#stopShare = async () => { this.#stopShare = null; await stop(); };
    return this.#stopShare;
  }

  /** Marks a participant verified (people compared the safety code) or not. */
  setVerified(peer, verified = true) {
    if (!this.#call) throw new SottoError('closed', 'not in a call');
    this.#call.setVerified(peer, verified);
  }

  #setState(state, code) {
    this.#state = state;
    this.setAttribute('state', state);
    this.dispatchEvent(new CustomEvent('state', { detail: code ? { state, code } : { state } }));
  }

  // `peer`: the text names that participant (it is said again when the sealed name arrives).
  #status(text, peer = null) { this.#ui.status.textContent = text; this.#statusPeer = peer; }

  #warnKey(detail) {
    const name = this.#nameOf(detail.peer);
    this.#warn(detail.reason === 'key-changed'
      ? `Warning: ${name} was verified but now has a different key. This may be someone else: compare the safety code again.`
      : `${name} joined and is not verified: compare the safety code again.`, true);
    this.#keyWarning = detail;
  }

  #warn(text, danger = false) {
    this.#keyWarning = null; // another text replaces the key warning
    const b = this.#ui.banner;
    b.textContent = text;
    b.className = danger ? 'banner danger' : 'banner';
    b.hidden = !text;
  }

  #fail(error) {
    const u = this.#ui;
    const [title, text, retry, bare] = FAILURES[error.code] ?? GENERIC_FAILURE;
    u.failTitle.textContent = title;
    u.failText.textContent = text;
    u.failCode.textContent = `Error code: ${error.code}`;
    u.retry.hidden = !retry;
    u.bare.hidden = !bare;
    u.call.hidden = true;
    u.controls.hidden = true;
    u.prejoin.hidden = true;
    u.failure.hidden = false;
    u.failure.dataset.code = error.code;
    this.#status('');
    this.#setState('failed', error.code);
    this.dispatchEvent(new CustomEvent('error', { detail: error }));
    (retry ? u.retry : u.failTitle).focus?.();
  }

  #stopMedia() {
    this.#stream?.getTracks().forEach((t) => t.stop());
    this.#stream = null;
  }

  #showCall() {
    const u = this.#ui;
    u.call.hidden = false;
    u.controls.hidden = false;
    u.log.replaceChildren();
    this.#safety = { state: 'verifying', words: [] };
    this.#renderSafety();
    const local = this.#tile('local', 'You');
    local.li.classList.add('local');
    local.video.muted = true;
    if (this.#stream) local.video.srcObject = this.#stream;
    this.#renderControls();
    this.#startLevels();
    this.#status('In the call. Waiting for others to join with the same link.');
    u.mic.focus();
  }

  #renderControls() {
    const u = this.#ui;
    const call = this.#call;
    for (const [button, kind, text] of [[u.mic, 'audio', TEXT.mic], [u.camera, 'video', TEXT.camera]]) {
      const has = call?.localStream?.getTracks().some((t) => t.kind === kind);
      const muted = call ? call.isMuted(kind) : false;
      button.hidden = !has;
      button.textContent = text[muted ? 1 : 0];
      button.setAttribute('aria-pressed', String(muted));
    }
    u.screen.hidden = !call?.localStream?.getVideoTracks().length || !navigator.mediaDevices?.getDisplayMedia;
    u.screen.textContent = TEXT.screen[this.#sharing ? 1 : 0];
    u.screen.setAttribute('aria-pressed', String(this.#sharing));
    const local = this.#tiles.get('local');
    if (local) {
      local.badge.hidden = !(call && call.isMuted('audio'));
    }
  }

  #tile(peer, name) {
    let t = this.#tiles.get(peer);
    if (t) return t;
    const video = el('video', { autoplay: true, playsInline: true, part: 'video' });
    const nameEl = el('span', { part: 'name', textContent: name });
    const badge = el('span', { className: 'muted', part: 'muted', textContent: 'Muted', hidden: true });
    const verified = el('span', { className: 'ok', textContent: 'Verified', hidden: true });
    const note = el('p', { className: 'note', part: 'tile-note', role: 'status', hidden: true });
    const li = el('li', { className: 'tile', part: 'tile', 'data-peer': peer, 'data-speaking': 'false', 'aria-label': name },
      video, note, el('div', { className: 'label' }, nameEl, badge, verified));
    t = { li, video, name: nameEl, badge, verified, note };
    this.#tiles.set(peer, t);
    this.#ui.grid.append(li);
    return t;
  }

  #clearTiles() {
    this.#stopLevels();
    for (const t of this.#tiles.values()) t.video.srcObject = null;
    this.#tiles.clear();
    this.#ui.grid.replaceChildren();
    this.#ui.verifyList.replaceChildren();
    this.#notes.clear();
  }

  // Speaking: the mean audio level of each interval (4 per second), from what this browser
  // decoded (remote) or captured (local): getStats, nothing from the wire (no audio-level
  // header; Opus is CBR). A level above SPEAKING_LEVEL marks the tile for SPEAKING_HOLD_MS.
  #startLevels() {
    this.#stopLevels();
    const levels = { timer: 0, busy: false, last: new Map(), until: new Map() };
    levels.timer = setInterval(() => this.#pollLevels(levels), LEVEL_POLL_MS);
    this.#levels = levels;
  }

  #stopLevels() {
    if (this.#levels) clearInterval(this.#levels.timer);
    this.#levels = null;
  }

  async #pollLevels(levels) {
    const call = this.#call;
    if (!call || levels.busy || this.#levels !== levels) return;
    levels.busy = true;
    let totals;
    try { totals = await call.audioLevels(); } catch { totals = null; } finally { levels.busy = false; }
    if (!totals || this.#levels !== levels || this.#call !== call) return;
    const now = performance.now();
    const sample = (key, t) => {
      const prev = levels.last.get(key);
      levels.last.set(key, t);
      if (!t || !prev || t.duration < prev.duration) return;
      const duration = t.duration - prev.duration;
      if (duration <= 0) return;
      const level = Math.sqrt(Math.max(0, t.energy - prev.energy) / duration);
      if (level >= SPEAKING_LEVEL) levels.until.set(key, now + SPEAKING_HOLD_MS);
    };
    sample('local', call.isMuted('audio') ? null : totals.local);
    for (const [peer, t] of Object.entries(totals.peers)) sample(peer, t);
    for (const key of [...levels.last.keys()]) if (key !== 'local' && !(key in totals.peers)) { levels.last.delete(key); levels.until.delete(key); }
    for (const [peer, t] of this.#tiles) {
      const speaking = (levels.until.get(peer) ?? 0) > now && !(peer === 'local' && call.isMuted('audio'));
      if ((t.li.dataset.speaking === 'true') === speaking) continue;
      t.li.dataset.speaking = String(speaking);
      t.li.classList.toggle('speaking', speaking);
      t.li.setAttribute('part', speaking ? 'tile speaking' : 'tile');
      // The tile's name says it (read when someone moves to the tile), no live announcement.
      const name = t.name.textContent;
      t.li.setAttribute('aria-label', speaking ? `${name}, speaking` : name);
    }
  }

  #nameOf(peer) {
    const p = this.#call?.participants.get(peer);
    return p?.name || `Guest ${peer.slice(0, 4)}`;
  }

  #renderPeer(peer) {
    const call = this.#call;
    const p = call?.participants.get(peer);
    if (!p) return;
    const t = this.#tile(peer, this.#nameOf(peer));
    t.name.textContent = this.#nameOf(peer);
    t.li.setAttribute('aria-label', t.li.dataset.speaking === 'true' ? `${this.#nameOf(peer)}, speaking` : this.#nameOf(peer));
    t.verified.hidden = !p.verified;
    const n = this.#notes.get(peer) ?? {};
    const note = n.connection === 'failed' || n.connection === 'disconnected' ? `Connection to ${this.#nameOf(peer)} lost. Reconnecting…`
      : n.keys === 'waiting-for-keys' ? `Waiting for ${this.#nameOf(peer)}'s encryption keys: their audio and video cannot be decrypted yet.`
        : n.ack ? `${this.#nameOf(peer)} has not received your encryption keys yet.` : '';
    t.note.textContent = note;
    t.note.hidden = !note;
    t.li.dataset.keys = n.keys ?? 'new';
    t.li.dataset.connection = n.connection ?? 'new';
    this.#renderVerify();
  }

  // One checkbox per participant, updated in place (a keyboard user's focus stays on it).
  #renderVerify() {
    const call = this.#call;
    const list = this.#ui.verifyList;
    const people = call ? call.participants : new Map();
    for (const item of [...list.children]) if (!people.has(item.dataset.peer)) item.remove();
    for (const [peer, p] of people) {
      let item = [...list.children].find((li) => li.dataset.peer === peer);
      if (!item) {
        const box = el('input', { type: 'checkbox' });
        box.onchange = () => {
          try { this.#call.setVerified(peer, box.checked); } catch (e) { box.checked = !box.checked; this.#warn(e.message); }
        };
        item = el('li', { 'data-peer': peer }, el('label', { part: 'verify' }, box, el('span')));
        list.append(item);
      }
      const box = item.querySelector('input');
      box.checked = p.verified;
      box.disabled = !p.verified && this.#safety.state !== 'ready';
      item.querySelector('span').textContent = `I compared the code with ${this.#nameOf(peer)}`;
    }
  }

  #renderSafety() {
    const u = this.#ui;
    const s = this.#safety;
    u.words.textContent = s.state === 'ready' ? s.words.join(' ') : '';
    u.words.hidden = s.state !== 'ready';
    u.safetyState.textContent = s.state === 'ready' ? 'Compare these words.' : s.state === 'failed'
      ? 'The code could not be agreed: someone may be interfering. Do not trust this call.' : this.#call?.participants.size ? 'Working out the code…' : 'Appears when someone joins.';
    this.#renderVerify();
  }

  #toggleChat(open = this.#ui.chat.hidden) {
    const u = this.#ui;
    u.chat.hidden = !open;
    u.chatToggle.setAttribute('aria-expanded', String(open));
    if (open) u.chatInput.focus();
  }

  #addChat(who, text) {
    this.#ui.log.append(el('li', {}, el('b', { textContent: `${who}: ` }), text));
    this.#ui.log.lastChild.scrollIntoView?.({ block: 'nearest' });
  }

  async #sendChat() {
    const input = this.#ui.chatInput;
    const text = input.value.trim();
    if (!text || !this.#call) return;
    try {
      await this.#call.sendChat(text);
      this.#addChat('You', text);
      input.value = '';
    } catch (e) {
      this.#warn(e.code === 'no-peers' ? 'Nobody else is in the call yet: the message was not sent.' : `The message was not sent (${e.code ?? e.message}).`);
    }
  }

  #wire(call) {
    const note = (peer) => this.#notes.get(peer) ?? this.#notes.set(peer, {}).get(peer);
    const on = (type, fn) => call.addEventListener(type, (event) => {
      if (this.#call !== call && !(type === 'closed' && this.#leaving)) return;
      if (fn) fn(event.detail);
      this.dispatchEvent(new CustomEvent(type, { detail: event.detail }));
    });
    on('participant-joined', ({ peer }) => { this.#renderPeer(peer); this.#status(`${this.#nameOf(peer)} joined.`, peer); });
    on('participant-name', ({ peer }) => {
      this.#renderPeer(peer);
      if (this.#keyWarning?.peer === peer) this.#warnKey(this.#keyWarning);
      if (this.#statusPeer === peer) this.#status(`${this.#nameOf(peer)} joined.`, peer);
    });
    on('verification-changed', ({ peer }) => this.#renderPeer(peer));
    on('participant-left', ({ peer, reason }) => {
      const name = this.#tiles.get(peer)?.name.textContent ?? 'Someone';
      const t = this.#tiles.get(peer);
      if (t) { t.video.srcObject = null; t.li.remove(); this.#tiles.delete(peer); }
      this.#notes.delete(peer);
      this.#renderVerify();
      this.#status(reason === 'vanished' ? `${name}'s connection was lost.` : `${name} left.`);
    });
    on('participant-state', ({ peer, state }) => { note(peer).keys = state; this.#renderPeer(peer); });
    on('connection-state', ({ peer, state }) => { note(peer).connection = state; this.#renderPeer(peer); });
    on('track', ({ peer, stream }) => {
      const t = this.#tile(peer, this.#nameOf(peer));
      if (t.video.srcObject !== stream) t.video.srcObject = stream;
      t.video.play().catch((error) => {
        // Autoplay with sound refused (no click on the page yet): the next click starts them.
        // (A play() cut short by a new srcObject or a layout change is no refusal: AbortError.)
        if (error?.name !== 'NotAllowedError') return;
        this.#status('Click anywhere in the call to hear the others.');
        this.shadowRoot.addEventListener('click', () => { for (const x of this.#tiles.values()) x.video.play().catch(() => {}); }, { once: true });
      });
      this.#renderPeer(peer);
    });
    on('track-removed', () => {});
    on('ice-restart', () => {});
    on('key-epoch', ({ peer }) => { if (peer !== call.peerId) { note(peer).ack = false; this.#renderPeer(peer); } });
    on('safety-code', (detail) => { this.#safety = detail; this.#renderSafety(); });
    // Cancelable: a page that shows its own warning calls preventDefault() (no banner then).
    call.addEventListener('verified-key-changed', ({ detail }) => {
      if (this.#call !== call) return;
      if (this.dispatchEvent(new CustomEvent('verified-key-changed', { detail, cancelable: true }))) this.#warnKey(detail);
    });
    on('signaling-state', ({ state }) => this.#warn(state === 'reconnecting' ? 'Reconnecting to the call server… The call goes on meanwhile.' : ''));
    on('chat', ({ from, text }) => this.#addChat(this.#nameOf(from), text));
    on('mute-changed', () => this.#renderControls());
    on('screen-share', ({ active }) => { this.#sharing = active; if (!active) this.#stopShare = null; this.#renderControls(); });
    on('local-track-replaced', ({ kind, track }) => {
      const local = this.#tiles.get('local');
      if (local && kind === 'video') local.video.srcObject = new MediaStream([track, ...(call.localStream?.getAudioTracks() ?? [])]);
    });
    on('error', (error) => {
      if (error.code === 'key-not-acknowledged' && error.peer) { note(error.peer).ack = true; this.#renderPeer(error.peer); return; }
      const text = WARNINGS[error.code];
      if (text) this.#warn(text, true);
    });
    on('closed', () => {
      if (this.#leaving) return;
      this.#call = null;
      this.#clearTiles();
      this.#stopMedia();
      this.#fail(new SottoError('call-ended', 'the call ended'));
    });
  }
}

/**
 * Whether this browser can encode (so send) a camera track's pictures: false for a camera
 * whose frames have no pixel format an encoder takes (a depth or infrared camera's 16-bit
 * grey, as Chromium's second fake camera): WebRTC then sends no video at all from it. Read
 * from one frame where the browser lets a page look (MediaStreamTrackProcessor); true where
 * it cannot tell or no frame comes within `timeoutMs`.
 */
export async function canSendVideo(track, timeoutMs = 3000) {
  if (typeof MediaStreamTrackProcessor !== 'function' || track?.kind !== 'video' || track.readyState !== 'live') return true;
  const probe = track.clone();
  probe.enabled = true;
  let timer;
  try {
    const reader = new MediaStreamTrackProcessor({ track: probe }).readable.getReader();
    const first = await Promise.race([reader.read(), new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs); })]);
    const frame = first?.value;
    const ok = !frame || frame.format !== null;
    frame?.close();
    reader.cancel().catch(() => {});
    return ok;
  } catch {
    return true;
  } finally {
    clearTimeout(timer);
    probe.stop();
  }
}

FAILURES['call-ended'] = ['The call ended', 'The connection to the call was lost for good. Join again to continue.', 1];

// `cameraId`/`micId`: the devices the page chose (the camera-id and microphone-id
// attributes); one that is gone (unplugged) gives way to the default device.
async function getMedia(video, cameraId, micId) {
  const md = navigator.mediaDevices;
  if (!md?.getUserMedia) throw new SottoError('media-missing', 'this page cannot use a camera or microphone (no mediaDevices: not a secure context?)');
  if (cameraId || micId) {
    try {
      return await md.getUserMedia({ audio: micId ? { deviceId: { exact: micId } } : true, video: video && cameraId ? { deviceId: { exact: cameraId } } : video });
    } catch (error) {
      if (error.name !== 'NotFoundError' && error.name !== 'OverconstrainedError') throw error;
    }
  }
  try {
    return await md.getUserMedia({ audio: true, video });
  } catch (error) {
    // No camera (or none allowed at that size): the microphone alone, if there is one.
    if (video && (error.name === 'NotFoundError' || error.name === 'OverconstrainedError' || error.name === 'NotReadableError')) {
      return md.getUserMedia({ audio: true, video: false });
    }
    throw error;
  }
}

if (!customElements.get('sotto-call')) customElements.define('sotto-call', SottoCallElement);
