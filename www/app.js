// The Sotto demo: a lobby (room link, QR code, camera preview, devices, name), then the call
// in the <sotto-call> element of the package. One page; the room secret lives in the URL
// fragment (never sent to any server).
import { generateRoomSecret } from './pkg/sotto.js';
import { canSendVideo } from './pkg/sotto-call-element.js';
import { generate as qrCode } from './vendor/lean-qr-nano.js';

const $ = (id) => document.getElementById(id);
const widget = $('widget');

// The page reads nothing but the room secret from its URL: no option, no switch, so a link
// someone edited cannot weaken a call.
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;
async function newRoom() {
  history.replaceState(null, '', `${location.pathname}#${await generateRoomSecret()}`);
  showLink();
}
function showLink() {
  $('room-link').value = location.href;
  if (!$('qr').hidden) drawQr();
}
if (SECRET_PATTERN.test(location.hash.slice(1))) showLink();
else await newRoom();

// The signaling worker: this origin, or the one the deployment wrote into index.html
// (scripts/build-www.mjs --signaling-url), never anything from the URL.
const signalingUrl = document.querySelector('meta[name="sotto-signaling-url"]')?.content || '';

// For people debugging (and for the e2e tests): the call and a log of its events.
const events = [];
// `call` stays the last call after it closed on its own (as the API's Call object does), until
// the person leaves or joins again.
let lastCall = null;
window.sotto = { get call() { return widget.call ?? lastCall; }, events };

// --- Sharing the link ------------------------------------------------------------------
const say = (text) => { $('copy-status').textContent = text; };
async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    say(`${what} copied.`);
  } catch {
    say(`Could not copy: select the ${what.toLowerCase()} and copy it yourself.`);
  }
}
$('copy-link').onclick = () => copy(location.href, 'Link');
$('copy-link-call').onclick = async () => {
  try { await navigator.clipboard.writeText(location.href); status('Link copied.'); } catch { status(`The room link: ${location.href}`); }
};
$('room-link').onfocus = () => $('room-link').select();
$('new-room').onclick = async () => { await newRoom(); say('A new room with a fresh secret. The old link no longer leads here.'); };

function drawQr() {
  const code = qrCode(location.href);
  const pad = 4;
  const size = code.size + pad * 2;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'QR code of the room link');
  svg.setAttribute('shape-rendering', 'crispEdges');
  const back = document.createElementNS(ns, 'rect');
  back.setAttribute('width', size);
  back.setAttribute('height', size);
  back.setAttribute('fill', '#fff');
  let d = '';
  for (let y = 0; y < code.size; y++) {
    for (let x = 0; x < code.size; x++) if (code.get(x, y)) d += `M${x + pad} ${y + pad}h1v1h-1z`;
  }
  const dots = document.createElementNS(ns, 'path');
  dots.setAttribute('d', d);
  dots.setAttribute('fill', '#000');
  svg.append(back, dots);
  svg.dataset.modules = String(code.size);
  $('qr-code').replaceChildren(svg);
}
$('show-qr').onclick = () => {
  const show = $('qr').hidden;
  if (show) drawQr();
  $('qr').hidden = !show;
  $('show-qr').setAttribute('aria-expanded', String(show));
  $('show-qr').textContent = show ? 'Hide QR code' : 'Show QR code';
};

// --- The lobby's camera preview and devices ----------------------------------------------
let preview = null; // the preview's MediaStream
let previewRun = 0; // a preview that arrives after it was stopped is stopped at once
let previewNote = ''; // said under the preview once it runs (why another camera was taken)
const unsendable = new Set(); // cameras whose pictures cannot be sent (deviceIds)
const previewStatus = (text) => { $('preview-status').textContent = text; $('preview-status').hidden = !text; };
function stopPreview({ keep = false } = {}) {
  previewRun += 1;
  if (!keep) preview?.getTracks().forEach((t) => t.stop());
  preview = null;
  $('preview').srcObject = null;
}

// A camera whose pictures this browser cannot encode (a depth or infrared camera; Chromium's
// second fake camera) would send no video at all: the element's check, run on the preview.
async function startPreview() {
  stopPreview();
  const run = previewRun;
  const camera = $('camera-select').value;
  const mic = $('mic-select').value;
  const cameraOff = $('start-camera-off').checked;
  previewStatus('Starting your camera…');
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: mic ? { deviceId: { exact: mic } } : true,
      video: cameraOff ? false : camera ? { deviceId: { exact: camera } } : true,
    });
    if (run !== previewRun) { stream.getTracks().forEach((t) => t.stop()); return; }
    const video = stream.getVideoTracks()[0];
    if (video && !(await canSendVideo(video))) {
      if (run !== previewRun) { stream.getTracks().forEach((t) => t.stop()); return; }
      const name = video.label || 'This camera';
      unsendable.add(video.getSettings().deviceId);
      stream.getTracks().forEach((t) => t.stop());
      await listDevices();
      const other = [...$('camera-select').options].find((o) => o.value && !unsendable.has(o.value));
      if (other) {
        previewNote = `${name} gives pictures this browser cannot send in a call (a depth or infrared camera?): using ${other.textContent} instead.`;
        $('camera-select').value = other.value;
        startPreview();
      } else {
        previewStatus(`${name} gives pictures this browser cannot send in a call (a depth or infrared camera?). Connect another camera, or join with your camera off.`);
      }
      return;
    }
    preview = stream;
    $('preview').srcObject = stream;
    previewStatus([previewNote, cameraOff ? 'Your camera will be off when you join.' : ''].filter(Boolean).join(' '));
    await listDevices();
  } catch (error) {
    if (run !== previewRun) return;
    await listDevices(); // what can be listed without permission: else 'No camera (or not allowed yet)'
    if (run !== previewRun) return;
    const name = error?.name;
    previewStatus(name === 'NotAllowedError' || name === 'SecurityError'
      ? 'Camera and microphone are blocked. Allow them for this site (in the address bar), or join without them.'
      : name === 'NotFoundError' || name === 'OverconstrainedError' ? 'No camera or microphone found. You can still join and see and hear the others.'
        : name === 'NotReadableError' ? 'Your camera or microphone is busy in another application.'
          : `No camera preview (${error?.message ?? error}).`);
  }
}
async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
  const inUse = (kind) => preview?.getTracks().find((t) => t.kind === kind)?.getSettings().deviceId;
  for (const [select, kind, track, label] of [[$('camera-select'), 'videoinput', 'video', 'Camera'], [$('mic-select'), 'audioinput', 'audio', 'Microphone']]) {
    const list = devices.filter((d) => d.kind === kind && d.deviceId);
    const chosen = select.value || inUse(track) || '';
    select.replaceChildren(...list.map((d, i) => {
      const option = new Option(d.label || `${label} ${i + 1}`, d.deviceId);
      if (unsendable.has(d.deviceId)) { option.textContent += ' (cannot be sent)'; option.disabled = true; }
      return option;
    }));
    if (!list.length) select.append(new Option(`No ${label.toLowerCase()} (or not allowed yet)`, ''));
    const usable = list.filter((d) => !unsendable.has(d.deviceId));
    select.value = usable.some((d) => d.deviceId === chosen) ? chosen : (usable[0]?.deviceId ?? list[0]?.deviceId ?? '');
    select.disabled = list.length === 0;
  }
}
$('camera-select').onchange = () => { previewNote = ''; startPreview(); };
$('mic-select').onchange = startPreview;
$('start-camera-off').onchange = startPreview;
if (navigator.mediaDevices?.getUserMedia) startPreview();
else previewStatus('This page cannot use a camera here (it needs https). You can still join.');

// --- Joining: the lobby's choices go to the element -------------------------------------
const status = (text) => { $('status').textContent = text; };
const showError = (error) => {
  const box = $('error');
  box.hidden = false;
  box.textContent = `${error?.peer ? `${nameOf(error.peer)}: ` : ''}${error?.message ?? error} (${error?.code ?? 'internal'})`;
  box.dataset.code = error?.code ?? 'internal';
  if (error?.peer) box.dataset.peer = error.peer; else delete box.dataset.peer;
};
// Errors the call recovers from by itself (a failed negotiation is retried): their note goes
// once media from that participant arrives again, instead of staying on screen all call long.
const RECOVERED_WITH_MEDIA = ['negotiation-failed'];
function clearRecoveredError() {
  const box = $('error');
  const peer = box.dataset.peer;
  if (box.hidden || !peer || !RECOVERED_WITH_MEDIA.includes(box.dataset.code)) return;
  if (people.get(peer)?.connection === 'connected' && (quality.get(peer)?.kbps ?? 0) >= 1) {
    box.hidden = true;
    delete box.dataset.code;
    delete box.dataset.peer;
  }
}

$('join').onclick = async () => {
  // The devices the lobby showed: its preview stream itself when it has the camera (no second
  // camera prompt, no flicker), and the chosen devices' ids for any later attempt (Try again).
  const stream = preview;
  const handOver = stream && !$('start-camera-off').checked && stream.getVideoTracks().length > 0 && stream.getAudioTracks().length > 0;
  stopPreview({ keep: handOver });
  widget.localStream = handOver ? stream : null;
  for (const [attribute, select] of [['camera-id', $('camera-select')], ['microphone-id', $('mic-select')]]) {
    if (select.value) widget.setAttribute(attribute, select.value); else widget.removeAttribute(attribute);
  }
  $('error').hidden = true;
  delete $('error').dataset.code;
  widget.setAttribute('link', location.href);
  if (signalingUrl) widget.setAttribute('signaling', signalingUrl);
  const name = $('display-name').value.trim();
  if (name) widget.setAttribute('name', name); else widget.removeAttribute('name');
  widget.toggleAttribute('camera-off', $('start-camera-off').checked);
  widget.toggleAttribute('mic-off', $('start-mic-off').checked);
  if ($('relay-only').checked) widget.setAttribute('privacy', 'relay'); else widget.removeAttribute('privacy');
  $('privacy-mode').textContent = $('relay-only').checked
    ? 'Relay-only: your media goes through a relay server; the others never learn your IP address.'
    : 'Direct connections: the others may learn your IP address (choose relay-only in the lobby to hide it).';
  $('lobby').hidden = true;
  $('call').hidden = false;
  $('back').hidden = true;
  status('Joining…');
  await widget.join();
};

// Ready: the button was disabled until the handler above existed.
$('join').disabled = false;

// --- The call: what the element says, summed up for the page ---------------------------
const LOGGED = ['participant-joined', 'participant-left', 'participant-state', 'participant-name', 'track-removed', 'connection-state', 'ice-restart', 'key-epoch',
  'signaling-state', 'safety-code', 'verification-changed', 'verified-key-changed', 'error', 'chat'];
for (const type of LOGGED) {
  widget.addEventListener(type, ({ detail }) => {
    if (!widget.call) return; // a join that failed: shown below, not a call event
    events.push({ type, at: performance.now(), detail: type === 'error' ? { code: detail.code, peer: detail.peer, kind: detail.kind, reason: detail.reason } : detail });
  });
}

// The status line comes from each participant's media path and keys: "end-to-end encrypted"
// only once a connected participant's keys are here.
const people = new Map(); // peer -> { connection, keys }
const person = (peer) => people.get(peer) ?? people.set(peer, { connection: 'new', keys: 'new' }).get(peer);
let rotating = false;
let encrypted = true;
const nameOf = (peer) => widget.call?.participants.get(peer)?.name || `Guest ${peer.slice(0, 4)}`;
function showState() {
  if (!encrypted) { status('This call is NOT end-to-end encrypted.'); return; }
  const list = [...people.entries()];
  const waiting = list.filter(([, p]) => p.keys === 'waiting-for-keys');
  if (waiting.length) {
    status(`Waiting for encryption keys from ${waiting.map(([peer]) => nameOf(peer)).join(', ')}: their media cannot be decrypted yet.`);
  } else if (rotating) {
    status('Someone left. Rotating keys…');
  } else if (list.some(([, p]) => p.connection === 'connected' && p.keys === 'ready')) {
    status(`Connected, end-to-end encrypted. ${list.length + 1} in the call.`);
  } else if (list.length) {
    status('Connecting…');
  } else {
    status('In the call. Waiting for others to join with the same link.');
  }
}

// Who is in the call: name, connection, keys, verified (the element's tiles show the same
// per picture; this list reads as text, one line per person).
function showPeople() {
  const call = widget.call;
  const list = $('people-list');
  const entries = call ? [...call.participants.entries()] : [];
  for (const item of [...list.children]) if (!call?.participants.has(item.dataset.peer)) item.remove();
  for (const [peer, info] of entries) {
    let item = [...list.children].find((li) => li.dataset.peer === peer);
    if (!item) {
      item = document.createElement('li');
      item.dataset.peer = peer;
      item.append(document.createElement('b'), document.createElement('span'));
      list.append(item);
    }
    const p = person(peer);
    const connection = { connected: 'connected', connecting: 'connecting…', new: 'connecting…', checking: 'connecting…', disconnected: 'connection lost, reconnecting…', failed: 'connection failed' }[p.connection] ?? p.connection;
    const keys = p.keys === 'waiting-for-keys' ? ', waiting for their encryption keys' : '';
    const q = quality.get(peer);
    const media = !q || p.connection !== 'connected' ? '' : q.kbps < 1 ? ', no media arriving'
      : `, receiving ${q.kbps >= 1000 ? `${(q.kbps / 1000).toFixed(1)} Mbit/s` : `${Math.round(q.kbps)} kbit/s`}${q.fps > 0 ? ` (${Math.round(q.fps)} fps)` : ''}`;
    item.querySelector('b').textContent = nameOf(peer);
    item.querySelector('span').textContent = ` — ${connection}${keys}${media}, ${info.verified ? 'verified ✔' : 'safety code not compared yet'}`;
    item.className = info.verified ? 'is-verified' : '';
  }
  $('people').hidden = entries.length === 0;
}
// Connection quality as the browser measures it: what arrives from each participant (bit rate
// and decoded frames per second over the last 2 s), from the call's mediaStats().
const quality = new Map(); // peer -> { kbps, fps, bytes, frames, at }
let qualityTimer = null;
async function sampleQuality() {
  const call = widget.call;
  if (!call) return;
  const stats = await call.mediaStats().catch(() => ({}));
  const now = performance.now();
  for (const [peer, s] of Object.entries(stats)) {
    const last = quality.get(peer);
    const dt = last ? (now - last.at) / 1000 : 0;
    quality.set(peer, {
      kbps: dt > 0 ? Math.max(0, (s.bytesReceived - last.bytes) * 8 / 1000 / dt) : 0,
      fps: dt > 0 ? Math.max(0, (s.framesDecoded - last.frames) / dt) : 0,
      bytes: s.bytesReceived, frames: s.framesDecoded, at: now,
    });
  }
  for (const peer of quality.keys()) if (!(peer in stats)) quality.delete(peer);
  showPeople();
  clearRecoveredError();
}
function watchQuality(on) {
  clearInterval(qualityTimer);
  qualityTimer = on ? setInterval(sampleQuality, 2000) : null;
  if (!on) quality.clear();
}

for (const type of ['participant-joined', 'participant-left', 'participant-name', 'participant-state', 'connection-state', 'verification-changed', 'joined']) {
  widget.addEventListener(type, () => queueMicrotask(showPeople));
}
let warned = null; // the last verified-key-changed: its text follows the name when it comes
function showWarning() {
  const warning = $('verify-warning');
  warning.hidden = !warned;
  if (!warned) return;
  warning.textContent = warned.reason === 'key-changed'
    ? `Warning: ${nameOf(warned.peer)} was verified, but now has a different identity key. This may be someone else. Compare the safety code again before you trust this call.`
    : `${nameOf(warned.peer)} joined and is not verified. Compare the safety code again.`;
}
widget.addEventListener('verified-key-changed', (event) => {
  // Loud: someone people verified came back with another key, or an unverified person joined.
  // Said once, here beside the call (with the name once it arrives): not in the element's banner too.
  event.preventDefault();
  const { detail } = event;
  warned = detail;
  showWarning();
});
widget.addEventListener('participant-name', ({ detail }) => { if (warned?.peer === detail.peer) showWarning(); });

widget.addEventListener('joined', ({ detail }) => {
  lastCall = widget.call;
  people.clear();
  warned = null;
  showWarning();
  rotating = false;
  encrypted = detail.encrypted;
  if (!encrypted) showError(Object.assign(new Error('This call is NOT end-to-end encrypted.'), { code: 'unencrypted' }));
  showState();
});
widget.addEventListener('state', ({ detail }) => {
  $('back').hidden = detail.state !== 'failed' && detail.state !== 'left';
  watchQuality(detail.state === 'in-call');
  if (detail.state === 'joining' || detail.state === 'left') lastCall = null;
  if (detail.state === 'left') {
    // Back to the lobby, with the preview running again.
    $('call').hidden = true;
    $('lobby').hidden = false;
    status('');
    $('safety-hex').value = '';
    $('fingerprint').hidden = true;
    startPreview();
    $('join').focus();
  } else if (detail.state === 'failed') {
    status('');
  } else if (detail.state === 'joining') {
    // A new attempt (Join, Try again, Join without camera): the last failure is history.
    $('error').hidden = true;
    delete $('error').dataset.code;
    status('Joining…');
  }
});
// Every error is shown, but a verified key that changed has its own warning above.
widget.addEventListener('error', ({ detail }) => { if (detail.code !== 'verified-key-changed') showError(detail); });
widget.addEventListener('participant-joined', ({ detail }) => { person(detail.peer); showState(); });
widget.addEventListener('participant-left', ({ detail }) => {
  people.delete(detail.peer);
  if ($('error').dataset.peer === detail.peer && RECOVERED_WITH_MEDIA.includes($('error').dataset.code)) $('error').hidden = true;
  // "Rotated" only once this participant's new key is in use (its key-epoch event).
  rotating = true;
  showState();
});
widget.addEventListener('key-epoch', ({ detail }) => {
  if (detail.peer !== widget.call?.peerId || !rotating) return;
  rotating = false;
  status('Someone left. Keys were rotated.');
});
widget.addEventListener('participant-state', ({ detail }) => { person(detail.peer).keys = detail.state; showState(); });
widget.addEventListener('connection-state', ({ detail }) => {
  person(detail.peer).connection = detail.state;
  if (detail.state === 'failed') status(`The connection to ${nameOf(detail.peer)} failed.`);
  else showState();
});
widget.addEventListener('safety-code', ({ detail }) => {
  $('safety-hex').value = detail.state === 'ready' ? detail.hex.match(/.{4}/g).join(' ') : '';
  $('fingerprint').hidden = detail.state !== 'ready';
});
$('copy-hex').onclick = async () => {
  try { await navigator.clipboard.writeText($('safety-hex').value); status('Fingerprint copied.'); } catch { $('safety-hex').select(); }
};
$('back').onclick = () => {
  widget.leave();
};
