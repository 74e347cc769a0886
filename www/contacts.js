// The demo's contacts panel (issue 16): this browser profile's identity, adding contacts by
// link or QR code, who is online, calling them, the incoming-call sheet and missed calls.
// Everything secret happens in the package's contacts module (pkg/sotto-contacts.js); this file
// is only the page. It joins a room through the lobby's own controls (the room link in the
// fragment, then its Join button), so app.js needs no change.
//
// Loaded before app.js: a contact link (#c1.…) is read here before app.js replaces the
// fragment with a room of its own.
const startHash = location.hash;

import { openContacts } from './pkg/sotto-contacts.js';
import { generateRoomSecret } from './pkg/sotto.js';
import { generate as qrCode } from './vendor/lean-qr-nano.js';

const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role' || k === 'for') e.setAttribute(k, v);
    else e[k] = v;
  }
  e.append(...children);
  return e;
};

// ── the panel ────────────────────────────────────────────────────────────────
const panel = el('section', { id: 'contacts', 'aria-labelledby': 'contacts-title' });
const title = el('h2', { id: 'contacts-title' }, 'Contacts');
const note = el('p', { id: 'contacts-status', className: 'hint', role: 'status' });
const setup = el('form', { id: 'contacts-setup' });
const me = el('div', { id: 'contacts-me', hidden: true });
const list = el('ul', { id: 'contacts-list', 'aria-label': 'Your contacts' });
const missed = el('section', { id: 'missed', hidden: true, 'aria-labelledby': 'missed-title' },
  el('h3', { id: 'missed-title' }, 'Missed calls'), el('ul', { id: 'missed-list' }));
const sheet = el('div', { id: 'incoming', role: 'alertdialog', 'aria-modal': 'false', 'aria-labelledby': 'incoming-title', hidden: true });
const outgoing = el('div', { id: 'outgoing', role: 'status', hidden: true });
panel.append(title, note, setup, me, list, missed, outgoing, sheet);
document.getElementById('main')?.prepend(panel);
const say = (text) => { note.textContent = text; };

let contacts;
try {
  contacts = await openContacts({ signalingUrl: document.querySelector('meta[name="sotto-signaling-url"]')?.content || '' });
} catch (error) {
  say(`Contacts are not available in this browser (${error.code ?? error.message}).`);
  throw error;
}
window.sottoContacts = contacts;

// ── identity: create or import ──────────────────────────────────────────────
setup.append(
  el('label', { for: 'contacts-name' }, 'Your name for your contacts'),
  el('input', { id: 'contacts-name', maxLength: 64, autocomplete: 'nickname', required: true }),
  el('button', { id: 'contacts-create', type: 'submit' }, 'Create my identity'),
  el('details', {},
    el('summary', {}, 'Import a backup'),
    el('label', { for: 'backup-file' }, 'Backup file'),
    el('input', { id: 'backup-file', type: 'file' }),
    el('label', { for: 'backup-import-pass' }, 'Passphrase'),
    el('input', { id: 'backup-import-pass', type: 'password', autocomplete: 'current-password' }),
    el('button', { id: 'backup-import', type: 'button' }, 'Import')),
);
setup.onsubmit = async (event) => {
  event.preventDefault();
  try {
    await contacts.create(document.getElementById('contacts-name').value);
    render();
    await pairFromLink();
  } catch (error) { say(`Could not create the identity: ${error.message} (${error.code})`); }
};
document.getElementById('backup-import').onclick = async () => {
  const file = document.getElementById('backup-file').files?.[0];
  if (!file) { say('Choose a backup file first.'); return; }
  say('Opening the backup (this takes a few seconds)…');
  try {
    await contacts.importBackup(file, document.getElementById('backup-import-pass').value);
    say('Identity imported. Pair with your contacts again.');
    render();
  } catch (error) { say(`Could not import: ${error.message} (${error.code})`); }
};

// ── own identity, adding contacts, backup ────────────────────────────────────
const qrBox = el('figure', { id: 'contact-qr', hidden: true });
const linkInput = el('input', { id: 'contact-link', readOnly: true, 'aria-label': 'Your one-time contact link' });
const useInput = el('input', { id: 'use-link', 'aria-label': 'A contact link someone gave you', placeholder: 'Paste a contact link' });
me.append(
  el('p', { id: 'contacts-whoami' }),
  el('div', { className: 'actions' },
    el('button', { id: 'add-contact', type: 'button' }, 'Add a contact'),
    el('button', { id: 'export-backup', type: 'button' }, 'Back up my identity')),
  el('div', { id: 'contact-invite', hidden: true },
    el('p', { className: 'hint' }, 'Give this link to one person you trust, in person or over a channel you trust: it works once. It holds your public key and a one-time secret, after the #, which browsers never send to a server.'),
    el('div', { className: 'link-row' }, linkInput), qrBox),
  el('form', { id: 'use-link-form', className: 'link-row' }, useInput, el('button', { type: 'submit' }, 'Add')),
  el('div', { id: 'backup-box', hidden: true },
    el('label', { for: 'backup-pass' }, 'Passphrase for the backup'),
    el('input', { id: 'backup-pass', type: 'password', autocomplete: 'new-password' }),
    el('button', { id: 'backup-save', type: 'button' }, 'Download the backup')),
);
function drawQr(text) {
  const code = qrCode(text);
  const pad = 4;
  const size = code.size + pad * 2;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'QR code of your contact link');
  let d = '';
  for (let y = 0; y < code.size; y++) for (let x = 0; x < code.size; x++) if (code.get(x, y)) d += `M${x + pad} ${y + pad}h1v1h-1z`;
  const back = document.createElementNS(ns, 'rect');
  back.setAttribute('width', size);
  back.setAttribute('height', size);
  back.setAttribute('fill', '#fff');
  const dots = document.createElementNS(ns, 'path');
  dots.setAttribute('d', d);
  dots.setAttribute('fill', '#000');
  svg.append(back, dots);
  svg.dataset.modules = String(code.size);
  qrBox.replaceChildren(svg);
  qrBox.hidden = false;
}
document.getElementById('add-contact').onclick = async () => {
  try {
    const link = await contacts.createLink();
    linkInput.value = link;
    document.getElementById('contact-invite').hidden = false;
    drawQr(link);
    say('Waiting for your contact to open the link…');
  } catch (error) { say(`Could not make a link: ${error.message} (${error.code})`); }
};
linkInput.onfocus = () => linkInput.select();
document.getElementById('use-link-form').onsubmit = async (event) => {
  event.preventDefault();
  await pair(useInput.value.trim());
  useInput.value = '';
};
document.getElementById('export-backup').onclick = () => {
  const box = document.getElementById('backup-box');
  box.hidden = !box.hidden;
};
document.getElementById('backup-save').onclick = () => {
  say('Encrypting the backup (this takes a few seconds)…');
  setTimeout(() => {
    try {
      const blob = contacts.exportBackup(document.getElementById('backup-pass').value);
      const a = el('a', { href: URL.createObjectURL(blob), download: 'sotto-identity.sottoid' });
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
      say('Backup saved. Keep the file and the passphrase apart.');
    } catch (error) { say(`Could not back up: ${error.message} (${error.code})`); }
  }, 50);
};

async function pair(link) {
  say('Adding the contact: waiting for them to answer (their tab must be open)…');
  try {
    const c = await contacts.addContact(link);
    say(`${c?.name ?? 'The contact'} added. Safety number: ${c?.safetyNumber ?? ''}`);
  } catch (error) { say(`Could not add the contact: ${error.message} (${error.code})`); }
}
async function pairFromLink() {
  if (!startHash.startsWith('#c1.') || !contacts.hasIdentity) return;
  const link = startHash;
  await pair(link);
}

// ── the list ────────────────────────────────────────────────────────────────
const PRESENCE_TEXT = { online: 'online', busy: 'busy (in a call)', offline: 'offline' };
function render() {
  setup.hidden = contacts.hasIdentity;
  me.hidden = !contacts.hasIdentity;
  if (contacts.hasIdentity) document.getElementById('contacts-whoami').textContent = `You are ${contacts.name} in this browser.`;
  const items = contacts.contacts.map((c) => {
    const dot = el('span', { className: 'dot', 'data-presence': c.presence, 'aria-hidden': 'true' });
    const call = el('button', { type: 'button', className: 'call-contact', disabled: c.presence !== 'online' }, 'Call');
    call.setAttribute('aria-label', `Call ${c.name}`);
    call.onclick = () => placeCall(c);
    return el('li', { 'data-key': c.key, 'data-presence': c.presence },
      dot, el('b', { className: 'name' }, c.name), el('span', { className: 'presence' }, ` ${PRESENCE_TEXT[c.presence]}`), call,
      el('details', {}, el('summary', {}, 'Safety number'),
        el('p', { className: 'safety-number' }, c.safetyNumber),
        el('p', { className: 'hint' }, c.verified ? 'Verified: you exchanged the link yourselves. It is the same on both sides and in every call.' : 'Not verified.')));
  });
  list.replaceChildren(...items);
  list.hidden = items.length === 0;
}
contacts.addEventListener('contacts', render);
contacts.addEventListener('presence', render);
contacts.addEventListener('error', ({ detail }) => say(`Contacts: ${detail.message} (${detail.code})`));
render();
pairFromLink();

// ── calling ─────────────────────────────────────────────────────────────────
const nameOf = (key) => contacts.contacts.find((c) => c.key === key)?.name ?? 'Someone';
let placing = null; // {call, key}
const OUTCOME_TEXT = { answered: 'answered', declined: 'declined the call', busy: 'is busy in another call', 'no-answer': 'did not answer', cancelled: 'call cancelled' };
async function placeCall(c) {
  const roomLink = `${location.origin}${location.pathname}#${await generateRoomSecret()}`;
  const cancel = el('button', { id: 'cancel-call', type: 'button' }, 'Cancel');
  outgoing.replaceChildren(el('span', {}, `Calling ${c.name}…`), cancel);
  outgoing.hidden = false;
  try {
    const call = await contacts.call(c.key, roomLink);
    placing = { call, key: c.key };
    outgoing.dataset.call = call;
    cancel.onclick = () => contacts.cancel(call);
  } catch (error) {
    outgoing.textContent = `Could not call: ${error.message} (${error.code})`;
  }
}
contacts.addEventListener('outcome', ({ detail }) => {
  if (placing?.call !== detail.call) return;
  outgoing.dataset.outcome = detail.outcome;
  outgoing.replaceChildren(el('span', {}, `${nameOf(placing.key)} ${OUTCOME_TEXT[detail.outcome] ?? detail.outcome}.`));
  placing = null;
});

// Incoming: one sheet at a time (a second ring while one shows is answered by the others' rules).
let ringing = null; // {call, from}
contacts.addEventListener('incoming', ({ detail }) => {
  ringing = detail;
  const accept = el('button', { id: 'accept-call', type: 'button', className: 'primary' }, 'Accept');
  const decline = el('button', { id: 'decline-call', type: 'button' }, 'Decline');
  accept.onclick = () => { contacts.accept(detail.call); sheet.querySelector('p').textContent = 'Connecting…'; accept.disabled = decline.disabled = true; };
  decline.onclick = () => contacts.decline(detail.call);
  sheet.replaceChildren(el('h3', { id: 'incoming-title' }, `${detail.name} is calling`), el('p', {}, 'End-to-end encrypted call.'), el('div', { className: 'actions' }, accept, decline));
  sheet.dataset.call = detail.call;
  sheet.hidden = false;
  accept.focus();
});
const MISSED = new Set(['missed', 'missed-timeout', 'expired']);
contacts.addEventListener('stopped', ({ detail }) => {
  if (ringing?.call !== detail.call) return;
  sheet.hidden = true;
  sheet.dataset.stopped = detail.reason;
  if (MISSED.has(detail.reason)) {
    missed.hidden = false;
    missed.querySelector('ul').append(el('li', {}, `${ringing.name} at ${new Date().toLocaleTimeString()}`));
  }
  ringing = null;
});

// Calls while this profile had no tab open: their sealed notices, from the mailbox.
contacts.addEventListener('missed', ({ detail }) => {
  missed.hidden = false;
  missed.querySelector('ul').append(el('li', {}, `${detail.name || 'Someone'} at ${new Date(detail.at).toLocaleTimeString()} (while you were away)`));
});

// Join: the room link must be a room of this page (its secret in the fragment), never elsewhere.
contacts.addEventListener('join', ({ detail }) => {
  let url;
  try { url = new URL(detail.roomLink); } catch { url = null; }
  const secret = url?.hash.slice(1) ?? '';
  if (!url || url.origin !== location.origin || url.pathname !== location.pathname || !SECRET_PATTERN.test(secret)) {
    say('A call arrived with a room link for another site: not joined.');
    return;
  }
  if (ringing?.call === detail.call) { sheet.hidden = true; ringing = null; }
  outgoing.hidden = true;
  history.replaceState(null, '', `${location.pathname}#${secret}`);
  const roomInput = document.getElementById('room-link');
  if (roomInput) roomInput.value = location.href;
  document.getElementById('join')?.click();
});

// Busy while in a call: contacts see it, and rings are answered busy.
document.getElementById('widget')?.addEventListener('state', ({ detail }) => {
  contacts.setBusy(detail.state === 'joining' || detail.state === 'in-call');
});
