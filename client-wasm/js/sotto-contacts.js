// Sotto contacts (issue 16): a persistent identity, contact links, presence and ringing,
// without giving the server the social graph. Every decision and every secret operation is in
// the contacts wasm module (sotto-contacts through sotto-contacts-wasm, its own module: the
// call core and the crypto Worker do not link it); this file stores, and moves bytes:
//
//   IndexedDB "sotto-contacts"   wrap-key: a non-extractable AES-GCM CryptoKey
//                                profile:  {iv, ct} = AES-GCM(wrap-key, the profile record)
//   /ws/presence                 announce/subscribe the contacts' rotating channel ids, and
//                                sealed ring messages as `notify` on one's own channel
//   /api/mailbox/<id>(/take)     pairing requests and replies (sealed), polled while pending
//
// The server sees random-looking ids and sealed bytes: never a key, a name or who knows whom.
// Every tab of one browser profile is the same identity; tabs tell each other when the profile
// changed (BroadcastChannel) and reload it.
import init, { ContactsSession } from './sotto_contacts_wasm.js';

/** An error with a stable `code` (the contacts core's codes, plus the few named here). */
export class ContactsError extends Error {
  constructor(code, message) {
    super(message ?? code);
    this.name = 'ContactsError';
    this.code = code;
  }
}
const wrapError = (error) => (error instanceof ContactsError ? error
  : new ContactsError(typeof error?.code === 'string' ? error.code : 'internal', error?.message ?? String(error)));
const guard = (fn) => { try { return fn(); } catch (error) { throw wrapError(error); } };

// ── storage ─────────────────────────────────────────────────────────────────
const DB_NAME = 'sotto-contacts';
function idb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore('kv');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new ContactsError('storage-failed', String(req.error)));
  });
}
function tx(db, mode, fn) {
  return new Promise((resolve, reject) => {
    const t = db.transaction('kv', mode);
    const req = fn(t.objectStore('kv'));
    t.oncomplete = () => resolve(req?.result);
    t.onerror = t.onabort = () => reject(new ContactsError('storage-failed', String(t.error)));
  });
}
// The key that wraps the profile: AES-256-GCM, made non-extractable, kept as a CryptoKey
// (IndexedDB stores it by structured clone; its bytes never reach JavaScript).
async function wrapKey(db) {
  let key = await tx(db, 'readonly', (s) => s.get('wrap-key'));
  if (!key) {
    key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
    await tx(db, 'readwrite', (s) => s.put(key, 'wrap-key'));
  }
  return key;
}
const PROFILE_AAD = new TextEncoder().encode('sotto/v1 stored profile');
async function saveProfile(db, session) {
  const record = session.profile();
  try {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: PROFILE_AAD }, await wrapKey(db), record);
    await tx(db, 'readwrite', (s) => s.put({ iv, ct }, 'profile'));
  } finally {
    record.fill(0);
  }
}
async function loadRecord(db) {
  const stored = await tx(db, 'readonly', (s) => s.get('profile'));
  if (!stored) return null;
  let plain;
  try {
    plain = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: stored.iv, additionalData: PROFILE_AAD }, await wrapKey(db), stored.ct));
  } catch {
    throw new ContactsError('profile-unreadable', 'the stored profile does not open with this browser\'s key');
  }
  return plain;
}

/**
 * The contacts of this browser profile. Events (CustomEvent `detail`):
 *  - `contacts`  the list changed (a pairing finished, another tab changed the profile)
 *  - `presence`  {key, presence: 'online' | 'busy' | 'offline'}
 *  - `incoming`  {call, from, name}: ring (show accept / decline)
 *  - `stopped`   {call, reason}: stop ringing ('answered-elsewhere', 'ended-elsewhere',
 *                'declined', 'missed', 'missed-timeout', 'expired', 'not-confirmed')
 *  - `outcome`   {call, outcome}: a call this tab placed ended ringing ('answered',
 *                'declined', 'busy', 'no-answer', 'cancelled'); 'no-answer' at once when no
 *                tab of the contact heard the invite (a missed-call notice goes to their mailbox)
 *  - `join`      {call, roomLink}: join this room now (answered, on both sides)
 *  - `missed`    {call, from, name, at}: a contact called while this profile had no tab open
 *                (their sealed notice, taken from the mailbox)
 *  - `error`     {code, message}
 */
export class Contacts extends EventTarget {
  #db; #session = null; #origin; #socket = null; #plan = null; #channels = new Map();
  #online = new Map(); #busy = false; #timers = new Set(); #closed = false;
  #channel = null; #retry = 0; #pinger = null; #dayTimer = null; #presence = new Map();
  #socketOpen = null; #polling = false; #sent = []; #inviteFor = null; #inboxTimer = null;

  /**
   * @param {object} [options]
   * @param {string} [options.signalingUrl] ws(s)://host of the signaling worker (default: this origin)
   */
  static async open(options = {}) {
    await init();
    const c = new Contacts(options, await idb());
    await c.#reload();
    c.#channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(DB_NAME) : null;
    if (c.#channel) c.#channel.onmessage = () => { c.#reload().catch((e) => c.#fail(e)); };
    return c;
  }

  constructor(options, db) {
    super();
    this.#db = db;
    const base = options.signalingUrl || `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}`;
    this.#origin = new URL(base);
  }

  #emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }
  #fail(error) { const e = wrapError(error); this.#emit('error', { code: e.code, message: e.message }); }

  /** Reads the profile again (another tab changed it), keeping this tab's rings. */
  async #reload() {
    const record = await loadRecord(this.#db);
    if (!record) return;
    try {
      if (this.#session) {
        guard(() => this.#session.replaceProfile(record));
      } else {
        this.#session = guard(() => ContactsSession.fromProfile(record));
        this.#session.setBusy(this.#busy);
      }
    } finally {
      record.fill(0);
    }
    this.#emit('contacts', this.contacts);
    this.#connect();
    this.#announce(); // the contacts may have changed: what to announce and subscribe to too
    this.#poll();
  }

  async #save() {
    await saveProfile(this.#db, this.#session);
    this.#channel?.postMessage('changed');
  }

  /** True once this browser profile has an identity. */
  get hasIdentity() { return this.#session !== null; }
  #need() { if (!this.#session) throw new ContactsError('no-identity', 'create or import an identity first'); return this.#session; }
  get name() { return this.#session?.name() ?? null; }
  get publicKey() { return this.#session?.publicKey() ?? null; }

  /** Makes this profile's long-term identity (kept in IndexedDB, wrapped). */
  async create(name) {
    if (this.#session) throw new ContactsError('identity-exists', 'this browser profile already has an identity');
    this.#session = guard(() => ContactsSession.create(name));
    this.#session.setBusy(this.#busy);
    await this.#save();
    this.#connect();
  }

  async setName(name) { guard(() => this.#need().setName(name)); await this.#save(); }

  /** A passphrase-encrypted backup file of the identity (Argon2id, 64 MiB: takes seconds). */
  exportBackup(passphrase) {
    const bytes = guard(() => this.#need().exportBackup(passphrase));
    return new Blob([bytes], { type: 'application/octet-stream' });
  }

  /** Replaces this profile's identity with the one in a backup file (contacts pair again). */
  async importBackup(file, passphrase) {
    const bytes = new Uint8Array(file instanceof Blob ? await file.arrayBuffer() : file);
    const session = guard(() => ContactsSession.importBackup(bytes, passphrase));
    this.#session?.free();
    this.#session = session;
    this.#session.setBusy(this.#busy);
    await this.#save();
    this.#emit('contacts', this.contacts);
    this.#connect();
  }

  /** A new one-time contact link (show it as text or QR; it works once). */
  async createLink(base = `${location.origin}${location.pathname}`) {
    const url = this.#need().createInvite(base, Date.now());
    await this.#save();
    this.#poll();
    return url;
  }

  /**
   * Uses someone's contact link: resolves with the new contact ({key, name, safetyNumber, ...})
   * once they answered (they must have a tab open), or rejects on `signal` / a bad link.
   */
  async addContact(link, { signal } = {}) {
    const session = this.#need();
    const request = guard(() => session.startPairing(link));
    await this.#post(request.mailbox, request.body);
    const mailbox = session.replyMailboxes().at(-1);
    return new Promise((resolve, reject) => {
      const done = ({ detail }) => {
        if (detail.mailbox !== mailbox) return;
        this.removeEventListener('paired', done);
        resolve(this.contacts.find((c) => c.key === detail.key));
      };
      this.addEventListener('paired', done);
      signal?.addEventListener('abort', () => { this.removeEventListener('paired', done); reject(signal.reason); });
      this.#poll();
    });
  }

  /** [{key, name, verified, safetyNumber, presence}] */
  get contacts() {
    if (!this.#session) return [];
    return this.#session.contacts().map((c) => ({ ...c, presence: this.#presence.get(c.key) ?? 'offline' }));
  }

  /** In a call: contacts see 'busy', new rings are answered busy. */
  setBusy(busy) {
    this.#busy = !!busy;
    this.#session?.setBusy(this.#busy);
    this.#announce();
  }

  /** Rings a contact with a room link; resolves with the call id (see the `outcome` event). */
  async call(key, roomLink) {
    const { call, actions } = guard(() => this.#need().call(key, roomLink, Date.now()));
    await this.#socketReady();
    this.#inviteFor = call;
    try { this.#run(actions); } finally { this.#inviteFor = null; }
    return call;
  }
  cancel(call) { this.#run(guard(() => this.#need().cancel(call, Date.now()))); }
  accept(call) { this.#run(guard(() => this.#need().accept(call, Date.now()))); }
  decline(call) { this.#run(guard(() => this.#need().decline(call, Date.now()))); }

  /** Ring messages that did not open or were not for a call here (counted, never shown). */
  get ignored() { return this.#session?.ignored() ?? 0; }

  close() {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    clearInterval(this.#pinger);
    clearTimeout(this.#dayTimer);
    clearTimeout(this.#inboxTimer);
    this.#socket?.close(1000);
    this.#channel?.close();
    this.#db.close();
  }

  // ── ringing ───────────────────────────────────────────────────────────────
  #names() { return new Map(this.#session.contacts().map((c) => [c.key, c.name])); }
  #run(actions) {
    for (const a of actions) {
      switch (a.type) {
        case 'send': this.#notify(a.to, a.payload); break;
        case 'incoming': this.#emit('incoming', { call: a.call, from: a.from, name: this.#names().get(a.from) ?? '' }); break;
        case 'stopped': this.#emit('stopped', { call: a.call, reason: a.reason }); break;
        case 'outcome': this.#emit('outcome', { call: a.call, outcome: a.outcome }); break;
        case 'join': this.#emit('join', { call: a.call, roomLink: a.roomLink }); break;
        case 'wake-at': this.#wake(a.at); break;
        case 'post': this.#post(a.mailbox, a.body).catch((e) => this.#fail(e)); break;
        default: break;
      }
    }
  }
  #wake(at) {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#closed && this.#session) this.#run(guard(() => this.#session.tick(Date.now())));
    }, Math.max(0, at - Date.now()) + 5);
    this.#timers.add(t);
  }
  #notify(to, payload) {
    const channel = guard(() => this.#session.ringChannel(to, Date.now()));
    // Written in exactly the form the worker recognises (signaling/src/notify.rs).
    if (this.#socket?.readyState !== WebSocket.OPEN) return;
    this.#socket.send(JSON.stringify({ v: 2, type: 'notify', channel, payload }));
    // The worker answers each notify in order with how many tabs it reached.
    this.#sent.push({ channel, invite: this.#inviteFor });
  }

  // ── presence ──────────────────────────────────────────────────────────────
  #socketReady() {
    if (this.#socket?.readyState === WebSocket.OPEN && this.#plan) return Promise.resolve();
    return new Promise((resolve) => { this.#socketOpen = resolve; });
  }
  #connect() {
    if (this.#closed || !this.#session || this.#socket) return;
    const url = new URL('/ws/presence', this.#origin);
    const ws = new WebSocket(url);
    this.#socket = ws;
    ws.onopen = () => {
      this.#retry = 0;
      this.#announce();
      clearInterval(this.#pinger);
      this.#pinger = setInterval(() => { if (ws.readyState === WebSocket.OPEN) ws.send('{"v":2,"type":"ping"}'); }, 25_000);
      this.#socketOpen?.();
      this.#socketOpen = null;
      this.#checkInboxes();
    };
    ws.onmessage = ({ data }) => { try { this.#onMessage(JSON.parse(data)); } catch (e) { this.#fail(e); } };
    ws.onclose = () => {
      if (this.#socket !== ws) return;
      this.#socket = null;
      this.#sent = [];
      clearInterval(this.#pinger);
      for (const key of this.#presence.keys()) this.#setPresence(key, 'offline');
      this.#online.clear();
      if (this.#closed) return;
      const delay = Math.min(10_000, 250 * 2 ** this.#retry++);
      const t = setTimeout(() => { this.#timers.delete(t); this.#connect(); }, delay);
      this.#timers.add(t);
    };
  }
  #announce() {
    if (!this.#session || this.#socket?.readyState !== WebSocket.OPEN) return;
    const now = Date.now();
    const plan = guard(() => this.#session.presencePlan(this.#busy, now));
    this.#plan = plan;
    this.#channels = new Map(plan.subscribe.map(([ch, key, status]) => [ch, { key, status }]));
    for (const ch of [...this.#online.keys()]) if (!this.#channels.has(ch)) this.#online.delete(ch);
    this.#socket.send(JSON.stringify({ v: 2, type: 'announce', channels: plan.announce }));
    this.#socket.send(JSON.stringify({ v: 2, type: 'subscribe', channels: plan.subscribe.map(([ch]) => ch) }));
    clearTimeout(this.#dayTimer);
    this.#dayTimer = setTimeout(() => this.#announce(), Math.max(1000, plan.nextChangeMs - now));
  }
  #setPresence(key, presence) {
    if ((this.#presence.get(key) ?? 'offline') === presence) return;
    this.#presence.set(key, presence);
    this.#emit('presence', { key, presence });
  }
  #onMessage(m) {
    if (m.type === 'presence') {
      const entry = this.#channels.get(m.channel);
      if (!entry) return;
      if (m.online) this.#online.set(m.channel, entry); else this.#online.delete(m.channel);
      let online = false;
      let busy = false;
      for (const e of this.#online.values()) {
        if (e.key !== entry.key) continue;
        if (e.status === 'busy') busy = true; else online = true;
      }
      this.#setPresence(entry.key, busy ? 'busy' : online ? 'online' : 'offline');
    } else if (m.type === 'notify') {
      const entry = this.#channels.get(m.channel);
      if (!entry || typeof m.payload !== 'string') return;
      this.#run(guard(() => this.#session.onRing(entry.key, m.payload, Date.now())));
    } else if (m.type === 'notified') {
      // Answers come in order; one refused with an error instead is skipped by its channel.
      const at = this.#sent.findIndex((e) => e.channel === m.channel);
      const sent = at < 0 ? null : this.#sent.splice(0, at + 1).at(-1);
      // An invite nobody heard: no answer, and a missed-call notice in their mailbox.
      if (sent?.invite && m.delivered === 0) this.#run(guard(() => this.#session.unreachable(sent.invite, Date.now())));
    } else if (m.type === 'error') {
      this.#fail(new ContactsError(String(m.code ?? 'internal'), String(m.message ?? '')));
    }
  }

  // ── mailboxes (pairing) ───────────────────────────────────────────────────
  #http(path) {
    const u = new URL(path, this.#origin);
    u.protocol = this.#origin.protocol === 'wss:' ? 'https:' : 'http:';
    return u;
  }
  async #post(mailbox, body) {
    const res = await fetch(this.#http(`/api/mailbox/${mailbox}`), { method: 'POST', body, signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new ContactsError('mailbox-refused', `mailbox answered ${res.status}`);
  }
  async #take(mailbox) {
    const res = await fetch(this.#http(`/api/mailbox/${mailbox}/take`), { method: 'POST', signal: AbortSignal.timeout(10_000) });
    if (!res.ok) return [];
    const json = await res.json().catch(() => null);
    return Array.isArray(json?.messages) ? json.messages.filter((m) => typeof m === 'string') : [];
  }
  /**
   * Takes what contacts left while this profile was offline (missed-call notices, sealed to its
   * key), from each contact's inboxes of the last 8 days: when the presence socket opens, then
   * once a minute. The mailbox deletes what it hands out.
   */
  async #checkInboxes() {
    clearTimeout(this.#inboxTimer);
    if (this.#closed || !this.#session) return;
    try {
      for (const [mailbox, key] of guard(() => this.#session.inboxes(Date.now()))) {
        for (const body of await this.#take(mailbox).catch(() => [])) {
          try {
            const msg = guard(() => this.#session.openOffline(key, body));
            if (msg.kind === 'missed-call') this.#emit('missed', { from: key, name: this.#names().get(key) ?? '', at: msg.sentAt, call: msg.call });
          } catch (e) { this.#fail(e); }
        }
      }
    } finally {
      if (!this.#closed) this.#inboxTimer = setTimeout(() => this.#checkInboxes(), 60_000);
    }
  }

  /** Polls the mailboxes of open invites and pending pairings, once a second, while any. */
  #poll() {
    if (this.#polling || this.#closed) return;
    this.#polling = true;
    (async () => {
      while (!this.#closed && this.#session) {
        const requests = this.#session.requestMailboxes();
        const replies = this.#session.replyMailboxes();
        if (!requests.length && !replies.length) break;
        for (const mailbox of requests) {
          for (const body of await this.#take(mailbox).catch(() => [])) {
            try {
              const accepted = guard(() => this.#session.onPairingRequest(mailbox, body));
              await this.#post(accepted.reply.mailbox, accepted.reply.body);
              await this.#save();
              this.#emit('contacts', this.contacts);
              this.#announce();
            } catch (e) { this.#fail(e); }
          }
        }
        for (const mailbox of replies) {
          for (const body of await this.#take(mailbox).catch(() => [])) {
            try {
              const key = guard(() => this.#session.finishPairing(mailbox, body));
              await this.#save();
              this.#emit('contacts', this.contacts);
              this.#emit('paired', { mailbox, key });
              this.#announce();
            } catch (e) { this.#fail(e); }
          }
        }
        await new Promise((r) => { const t = setTimeout(() => { this.#timers.delete(t); r(); }, 1000); this.#timers.add(t); });
      }
    })().catch((e) => this.#fail(e)).finally(() => { this.#polling = false; });
  }
}

/** Opens this browser profile's contacts (loads the wasm module and the stored identity). */
export const openContacts = (options) => Contacts.open(options);
