// The iframe embed (/embed.html#<room secret>&parent=<embedding origin>): the <sotto-call>
// element on this origin, driven by the embedding page's controller (createCallFrame in
// sotto-call-frame.js) over postMessage.
//
// What crosses to the embedding page is chosen here, field by field: states, who joined or
// left, connection and key states, mute and share changes, error codes. Never the room
// secret, a key, an identity key, the safety code's words or fingerprint, or chat text: the
// embedding page is another origin and cannot read this document, and nothing here hands
// those over. Messages go only to the declared parent origin (postMessage's targetOrigin),
// and commands are taken only from window.parent at that origin; without a declared parent
// no message is sent or taken (the page then works on its own, with its Join button).
import './pkg/sotto-call-element.js';

const SECRET = /^[A-Za-z0-9_-]{43}$/;
const [secret, ...params] = location.hash.slice(1).split('&');
const query = new URLSearchParams(params.join('&'));
let parentOrigin = null;
try {
  const declared = new URL(query.get('parent') ?? '');
  if ((declared.protocol === 'https:' || declared.protocol === 'http:') && declared.origin !== 'null') parentOrigin = declared.origin;
} catch { /* no parent: standalone */ }
if (window.parent === window) parentOrigin = null;
// The secret is taken out of the address bar (and so out of this document's history entry).
history.replaceState(null, '', location.pathname);

const signaling = document.querySelector('meta[name="sotto-signaling-url"]')?.content;
const call = document.createElement('sotto-call');
call.setAttribute('link', `${location.origin}/#${SECRET.test(secret ?? '') ? secret : ''}`);
if (signaling) call.setAttribute('signaling', signaling);

const post = (type, detail) => {
  if (parentOrigin) window.parent.postMessage({ sotto: 'frame', type, detail }, parentOrigin);
};

// Each event as the embedding page sees it: only these fields.
const pick = (...keys) => (d) => Object.fromEntries(keys.filter((k) => d?.[k] !== undefined).map((k) => [k, d[k]]));
const FORWARD = {
  state: pick('state', 'code'),
  joined: pick('peerId', 'encrypted'),
  'participant-joined': pick('peer', 'verified', 'name'),
  'participant-name': pick('peer', 'name'),
  'participant-left': pick('peer', 'reason'),
  'participant-state': pick('peer', 'state'),
  'connection-state': pick('peer', 'state'),
  'ice-restart': pick('peer', 'attempt'),
  'verification-changed': pick('peer', 'verified'),
  'verified-key-changed': pick('peer', 'reason'),
  'signaling-state': pick('state'),
  'safety-code': pick('state'),
  'mute-changed': pick('kind', 'muted'),
  'screen-share': pick('active'),
  chat: pick('from'),
  error: pick('code', 'message', 'peer', 'kind', 'reason'),
  closed: () => ({}),
};
for (const [type, shape] of Object.entries(FORWARD)) {
  call.addEventListener(type, (event) => post(type, shape(event.detail)));
}

const reply = (id, error) => post('reply', error ? { id, error: { code: error.code ?? 'internal', message: String(error.message ?? error) } } : { id });
const BOOL_ATTRS = { cameraOff: 'camera-off', micOff: 'mic-off' };
let configured = false;
const configure = (options = {}) => {
  if (configured) return;
  configured = true;
  if (typeof options.displayName === 'string') call.setAttribute('name', options.displayName.slice(0, 64));
  if (options.privacy === 'relay') call.setAttribute('privacy', 'relay');
  if (typeof options.videoCodec === 'string') call.setAttribute('codec', options.videoCodec);
  for (const [key, attr] of Object.entries(BOOL_ATTRS)) if (options[key] === true) call.setAttribute(attr, '');
  document.getElementById('embed').append(call);
  if (options.autojoin !== false) call.join();
};

window.addEventListener('message', async (event) => {
  if (!parentOrigin || event.source !== window.parent || event.origin !== parentOrigin) return;
  const data = event.data;
  if (data?.sotto !== 'controller' || typeof data.type !== 'string') return;
  try {
    switch (data.type) {
      case 'configure': configure(data.options); break;
      case 'join': configure(); await call.join(); break;
      case 'leave': call.leave(); break;
      case 'set-muted': call.setMuted(data.kind === 'video' ? 'video' : 'audio', data.muted !== false); break;
      case 'share-screen': await call.shareScreen(); break;
      case 'stop-share': await (call.call && call.shareScreen().then((stop) => stop())); break;
      default: throw Object.assign(new Error(`unknown command ${data.type}`), { code: 'bad-argument' });
    }
    if (typeof data.id === 'number') reply(data.id);
  } catch (error) {
    if (typeof data.id === 'number') reply(data.id, error);
  }
});

if (parentOrigin) {
  post('ready', {});
  // A parent that never configures gets the element as it stands (with its Join button).
  setTimeout(() => { if (!configured) configure({ autojoin: false }); }, 3000);
} else {
  configure({ autojoin: false });
}
