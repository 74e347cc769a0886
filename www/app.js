// The Sotto demo: one page, the room secret in the URL fragment (never sent to any server).
import { joinCall, generateRoomSecret, SottoError } from './pkg/sotto.js';

const $ = (id) => document.getElementById(id);
const status = (text) => { $('status').textContent = text; };
const showError = (error) => {
  const box = $('error');
  box.hidden = false;
  box.textContent = error instanceof SottoError ? `${error.message} (${error.code})` : String(error?.message ?? error);
  box.dataset.code = error?.code ?? 'internal';
};

// The page reads nothing but the room secret from its URL: no option, no switch, so a link
// someone edited cannot weaken a call.
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;
let secret = location.hash.slice(1);
if (!SECRET_PATTERN.test(secret)) {
  secret = await generateRoomSecret();
  history.replaceState(null, '', `${location.pathname}#${secret}`);
}
$('room-link').value = location.href;
$('copy-link').onclick = () => navigator.clipboard?.writeText(location.href);

// The signaling worker: this origin, or the one the deployment wrote into index.html
// (scripts/build-www.mjs --signaling-url), never anything from the URL.
const signalingUrl = document.querySelector('meta[name="sotto-signaling-url"]')?.content || undefined;

let call = null;
// For people debugging (and for the e2e tests): the call and a log of its events.
const events = [];
window.sotto = { get call() { return call; }, events };

$('join').onclick = async () => {
  $('join').disabled = true;
  status('Starting camera and microphone…');
  // Joining starts while the camera prompt is open; media is sent once the stream is there.
  const localStream = navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
  localStream.then((stream) => { $('local-video').srcObject = stream; status('Joining…'); }, () => {});
  // What the person chose in the lobby (never from the URL).
  const displayName = $('display-name').value.trim() || undefined;
  const privacy = $('relay-only').checked ? 'relay' : 'default';
  try {
    call = await joinCall({ roomSecret: secret, localStream, signalingUrl, displayName, privacy });
    if (!call.encrypted) showError(Object.assign(new Error('This call is NOT end-to-end encrypted.'), { code: 'unencrypted' }));
    wire(call);
    $('lobby').hidden = true;
    $('call').hidden = false;
    status(`In the call. Waiting for others to join with the same link.`);
  } catch (error) {
    // Nothing keeps running after a refused join: not even the camera.
    localStream.then((stream) => stream.getTracks().forEach((track) => track.stop()), () => {});
    $('join').disabled = false;
    status('');
    showError(error);
  }
};

// Ready: the button was disabled until the handler above existed.
$('join').disabled = false;

$('leave').onclick = () => {
  call?.close();
  location.reload();
};

function addChatLine(text) {
  const item = document.createElement('li');
  item.textContent = text;
  $('chat-log').append(item);
}

function wire(call) {
  for (const type of ['participant-joined', 'participant-left', 'participant-state', 'participant-name', 'track-removed', 'connection-state', 'ice-restart', 'key-epoch',
    'signaling-state', 'safety-code', 'verification-changed', 'verified-key-changed', 'error', 'chat']) {
    call.addEventListener(type, ({ detail }) => events.push({ type, at: performance.now(), detail: type === 'error' ? { code: detail.code, peer: detail.peer, kind: detail.kind, reason: detail.reason } : detail }));
  }
  // What the status line says comes from each participant's media path and keys: "end-to-end
  // encrypted" only once a connected participant's keys are here.
  const people = new Map(); // peer -> { connection, keys }
  const person = (peer) => people.get(peer) ?? people.set(peer, { connection: 'new', keys: 'new' }).get(peer);
  let rotating = false;
  const showState = () => {
    const list = [...people.entries()];
    const waiting = list.filter(([, p]) => p.keys === 'waiting-for-keys');
    if (waiting.length) {
      status(`Waiting for encryption keys from ${waiting.map(([peer]) => peer.slice(0, 6)).join(', ')}: their media cannot be decrypted yet.`);
    } else if (rotating) {
      status('Someone left. Rotating keys…');
    } else if (list.some(([, p]) => p.connection === 'connected' && p.keys === 'ready')) {
      status('Connected, end-to-end encrypted.');
    } else if (list.length) {
      status('Connecting…');
    }
  };
  // A participant as people see it: the name it sent (sealed), else a short id; verified or not.
  const label = (peer) => {
    const info = call.participants.get(peer);
    const name = info?.name ?? `Participant ${peer.slice(0, 6)}`;
    return info?.verified ? `${name} ✔ verified` : name;
  };
  const updateCaption = (peer) => {
    const figure = document.querySelector(`figure[data-peer="${CSS.escape(peer)}"]`);
    const text = figure?.querySelector('figcaption');
    if (!text) return;
    const waiting = person(peer).keys === 'waiting-for-keys';
    text.textContent = `${label(peer)}${waiting ? ' (waiting for keys)' : ''}`;
    figure.dataset.keys = person(peer).keys;
  };
  // Who is in the call, who is verified, and a button to say "we compared the code".
  const showPeople = () => {
    const list = $('people-list');
    list.replaceChildren();
    for (const [peer, info] of call.participants) {
      const item = document.createElement('li');
      item.dataset.peer = peer;
      const name = document.createElement('span');
      name.textContent = label(peer);
      if (info.verified) name.className = 'verified';
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = info.verified ? 'Unmark' : 'We compared the code: mark verified';
      button.disabled = !info.verified && safetyState !== 'ready';
      button.onclick = () => {
        try {
          call.setVerified(peer, !info.verified);
        } catch (error) {
          showError(error);
        }
      };
      item.append(name, button);
      list.append(item);
    }
    for (const peer of people.keys()) updateCaption(peer);
  };
  let safetyState = 'verifying';
  $('privacy-mode').textContent = call.privacy === 'relay'
    ? 'Relay-only: your media goes through a TURN relay; the others never learn your IP address.'
    : 'Direct connections: the others may learn your IP address (choose relay-only before joining to hide it).';
  call.addEventListener('track', ({ detail }) => {
    let video = document.querySelector(`video[data-peer="${CSS.escape(detail.peer)}"]`);
    if (!video) {
      const figure = document.createElement('figure');
      figure.dataset.peer = detail.peer;
      video = document.createElement('video');
      video.autoplay = true;
      video.playsInline = true;
      video.dataset.peer = detail.peer;
      video.className = 'remote-video';
      const caption = document.createElement('figcaption');
      figure.append(video, caption);
      $('videos').append(figure);
      updateCaption(detail.peer);
    }
    video.srcObject = detail.stream;
  });
  call.addEventListener('participant-joined', ({ detail }) => {
    person(detail.peer);
    status('Someone joined. Connecting…');
    showPeople();
  });
  call.addEventListener('participant-name', () => showPeople());
  call.addEventListener('verification-changed', () => showPeople());
  call.addEventListener('verified-key-changed', ({ detail }) => {
    // Loud: someone people verified came back with another key, or an unverified person joined.
    const warning = $('verify-warning');
    warning.hidden = false;
    warning.textContent = detail.reason === 'key-changed'
      ? `Warning: ${label(detail.peer)} was verified, but now has a different identity key. This may be someone else. Compare the safety code again before you trust this call.`
      : `Warning: ${label(detail.peer)} joined and is not verified. Compare the safety code again.`;
    showPeople();
  });
  call.addEventListener('participant-left', ({ detail }) => {
    document.querySelector(`figure[data-peer="${CSS.escape(detail.peer)}"]`)?.remove();
    people.delete(detail.peer);
    showPeople();
    // "Rotated" only once this participant's new key is in use (its key-epoch event).
    rotating = true;
    showState();
  });
  call.addEventListener('key-epoch', ({ detail }) => {
    if (detail.peer !== call.peerId || !rotating) return;
    rotating = false;
    status('Someone left. Keys were rotated.');
  });
  call.addEventListener('participant-state', ({ detail }) => {
    person(detail.peer).keys = detail.state;
    updateCaption(detail.peer);
    showState();
  });
  call.addEventListener('connection-state', ({ detail }) => {
    person(detail.peer).connection = detail.state;
    if (detail.state === 'failed') status('A connection failed.');
    else showState();
  });
  call.addEventListener('safety-code', ({ detail }) => {
    safetyState = detail.state;
    const badge = $('safety-state');
    badge.className = `badge ${detail.state}`;
    badge.textContent = { verifying: 'verifying…', ready: 'compare now', failed: 'NOT verified' }[detail.state];
    $('safety-words').textContent = detail.state === 'ready' ? detail.words.join(' ') : '…';
    $('safety-hex').value = detail.state === 'ready' ? detail.hex.match(/.{4}/g).join(' ') : '';
    showPeople();
  });
  $('copy-hex').onclick = () => navigator.clipboard?.writeText($('safety-hex').value);
  call.addEventListener('chat', ({ detail }) => addChatLine(`${call.participants.get(detail.from)?.name ?? detail.from.slice(0, 6)}: ${detail.text}`));
  call.addEventListener('error', ({ detail }) => showError(detail));
  wireControls(call);
  $('chat-form').onsubmit = async (event) => {
    event.preventDefault();
    const text = $('chat-input').value;
    if (!text) return;
    try {
      await call.sendChat(text);
      addChatLine(`you: ${text}`);
      $('chat-input').value = '';
    } catch (error) {
      showError(error);
    }
  };
}

function wireControls(call) {
  const toggle = (button, kind, offLabel, onLabel) => {
    button.onclick = () => {
      try {
        const muted = !call.isMuted(kind);
        call.setMuted(kind, muted);
        button.setAttribute('aria-pressed', String(muted));
        button.textContent = muted ? onLabel : offLabel;
      } catch (error) {
        showError(error);
      }
    };
  };
  toggle($('toggle-mic'), 'audio', 'Mute microphone', 'Unmute microphone');
  toggle($('toggle-camera'), 'video', 'Turn camera off', 'Turn camera on');
  let stopSharing = null;
  $('share-screen').onclick = async () => {
    try {
      if (stopSharing) {
        await stopSharing();
      } else {
        stopSharing = await call.shareScreen();
        $('share-screen').setAttribute('aria-pressed', 'true');
        $('share-screen').textContent = 'Stop sharing';
      }
    } catch (error) {
      showError(error);
    }
  };
  call.addEventListener('screen-share', ({ detail }) => {
    if (detail.active) return;
    stopSharing = null;
    $('share-screen').setAttribute('aria-pressed', 'false');
    $('share-screen').textContent = 'Share screen';
  });
}
