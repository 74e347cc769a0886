// Contacts, presence and ringing (issue 16) in real browsers: three identities, each in its own
// Chromium context (its own IndexedDB: its own persistent identity), through the demo's
// contacts panel (www/contacts.js over pkg/sotto-contacts.js) against the real worker, with
// the recording proxy in front of it playing the server. The tests run in order and build on
// each other: pairing, presence, ringing, two tabs of one identity; the last one reads
// everything the server received.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startWorker, TEST_ASSETS } from './lib/worker.mjs';
import { launchChromium } from './lib/browser.mjs';
import { startRecordingProxy } from './lib/proxy.mjs';
import { encodings, findAny } from './lib/needles.mjs';
import { freePort } from './lib/ports.mjs';
import { FIREFOX, launchFirefox } from './lib/firefox.mjs';

let worker;
let proxy;
let browser;
const people = {};
const opened = [];
// What the browsers posted to the mailboxes (the proxy keeps request lines, not bodies).
const mailboxBodies = [];
// Room secrets that travelled sealed in ring invites (must not reach the server either).
const roomSecrets = new Set();

// The test build of the demo, with axe-core beside it (the demo's CSP refuses inline scripts).
const assets = mkdtempSync(path.join(tmpdir(), 'sotto-contacts-'));
before(async () => {
  cpSync(TEST_ASSETS, assets, { recursive: true });
  cpSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), path.join(assets, 'axe.min.js'));
  // The page is served through the proxy, so its mailbox posts carry the proxy's origin.
  // (The proxy gives WebSockets the worker's own origin: both are allowed.)
  const [port, workerPort] = [await freePort(), await freePort()];
  worker = await startWorker({ assets, port: workerPort, vars: { ALLOWED_ORIGINS: `http://127.0.0.1:${port},http://127.0.0.1:${workerPort}` } });
  proxy = await startRecordingProxy({ upstream: worker.origin, port });
  browser = await launchChromium();
});
after(async () => {
  if (process.env.CONTACTS_DEBUG) {
    for (const p of opened) console.log(p.log.join('\n'));
    for (const m of proxy.record.messages.filter((x) => x.url === '/ws/presence')) console.log(m.direction, m.text?.slice(0, 300));
  }
  await browser?.close();
  await proxy?.stop();
  await worker?.stop();
  rmSync(assets, { recursive: true, force: true });
});

/** No serious or critical axe violation on the page as it is. */
async function axeCheck(t, what) {
  await t.page.addScriptTag({ url: '/axe.min.js' });
  const violations = await t.page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) })));
  assert.deepEqual(violations, [], `axe (${what})`);
}

const WAIT = { timeout: 20_000 };

async function tab(context, label, url = `${proxy.origin}/`) {
  const page = await context.newPage();
  const log = [];
  page.on('console', (m) => log.push(`[${label}] ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[${label}] pageerror: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(() => window.sottoContacts && window.sotto && !document.querySelector('#join').disabled, null, WAIT);
  const t = { page, log, label };
  opened.push(t);
  return t;
}

/** A person: their own browser context, an identity made in the panel. */
async function person(label, url) {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
  await context.route('**/api/mailbox/**', (route) => {
    mailboxBodies.push(route.request().postData() ?? '');
    return route.continue();
  });
  const first = await tab(context, label, url);
  // Long, unique names: findAny only looks for needles of 16 characters or more.
  const name = `${label} ${randomBytes(8).toString('hex')}`;
  await first.page.fill('#contacts-name', name);
  await first.page.click('#contacts-create');
  await first.page.waitForFunction(() => !document.querySelector('#contacts-me').hidden, null, WAIT);
  const key = await first.page.evaluate(() => window.sottoContacts.publicKey);
  assert.match(key, /^[A-Za-z0-9_-]{43}$/);
  return { label, name, key, context, tabs: [first] };
}

const row = (p, other) => `#contacts-list li[data-key="${other.key}"]`;
async function waitPresence(t, other, presence) {
  await t.page.waitForFunction(([sel, want]) => document.querySelector(sel)?.dataset.presence === want, [row(null, other), presence], WAIT);
}

async function makeLink(t) {
  await t.page.evaluate(() => { document.querySelector('#contact-link').value = ''; });
  await t.page.click('#add-contact');
  await t.page.waitForFunction(() => document.querySelector('#contact-link').value.includes('#c1.'), null, WAIT);
  return t.page.inputValue('#contact-link');
}

test('pairing by link (typed in, and opened as the page URL): both sides list each other with the same safety number', async () => {
  people.A = await person('Alice');
  people.B = await person('Bob');
  const [a, b] = [people.A.tabs[0], people.B.tabs[0]];
  const link = await makeLink(a);
  assert.match(link, new RegExp(`^${proxy.origin}/#c1\\.${people.A.key}\\.[A-Za-z0-9_-]{43}$`));
  // The QR code of the link, drawn by the vendored lean-qr.
  assert.ok(Number(await a.page.getAttribute('#contact-qr svg', 'data-modules')) > 20);
  await b.page.fill('#use-link', link);
  await b.page.click('#use-link-form button');
  await b.page.waitForSelector(row(null, people.A), WAIT);
  await a.page.waitForSelector(row(null, people.B), WAIT);
  const sn = async (t, other) => t.page.textContent(`${row(null, other)} .safety-number`);
  const [snA, snB] = [await sn(a, people.B), await sn(b, people.A)];
  assert.match(snA, /^(\d{5} ){11}\d{5}$/);
  assert.equal(snA, snB, 'the same safety number on both sides');
  assert.equal(await a.page.textContent(`${row(null, people.B)} .name`), people.B.name);
  assert.equal(await b.page.textContent(`${row(null, people.A)} .name`), people.A.name);

  // Carol opens Alice's next link as the page itself, then makes her identity: paired.
  const link2 = await makeLink(a);
  assert.notEqual(link2, link, 'a fresh one-time secret per link');
  const carolContext = await browser.newContext({ permissions: ['camera', 'microphone'] });
  await carolContext.route('**/api/mailbox/**', (route) => { mailboxBodies.push(route.request().postData() ?? ''); return route.continue(); });
  const c = await tab(carolContext, 'Carol', link2);
  const carolName = `Carol ${randomBytes(8).toString('hex')}`;
  await c.page.fill('#contacts-name', carolName);
  await c.page.click('#contacts-create');
  people.C = { label: 'Carol', name: carolName, key: await c.page.evaluate(() => window.sottoContacts.publicKey), context: carolContext, tabs: [c] };
  await c.page.waitForSelector(row(null, people.A), WAIT);
  await a.page.waitForSelector(row(null, people.C), WAIT);
  // The page's own fragment is no longer the contact link (app.js made a room of it).
  assert.ok(!(await c.page.evaluate(() => location.hash)).startsWith('#c1.'));

  // Carol has a second tab open while she pairs in the first: it lists Bob too, and hears his
  // presence (it took the new contact's channels when the other tab changed the profile).
  const c2 = await tab(carolContext, 'Carol-2');
  await c2.page.waitForFunction(() => window.sottoContacts?.contacts.length === 1, null, WAIT);
  // Bob and Carol pair through the API (the same path as the panel), after a reload of Bob's
  // tab: a tab that loaded with nothing to poll still polls for the link it makes later.
  await b.page.reload();
  await b.page.waitForFunction(() => window.sottoContacts?.contacts.length === 1, null, WAIT);
  const link3 = await b.page.evaluate(() => window.sottoContacts.createLink());
  const added = await c.page.evaluate((l) => window.sottoContacts.addContact(l, { signal: AbortSignal.timeout(20_000) }), link3);
  assert.equal(added.key, people.B.key);
  await b.page.waitForSelector(row(null, people.C), WAIT);
  await waitPresence(c2, people.B, 'online');
  await c2.page.close();

  await axeCheck(a, 'contacts listed, link and QR shown');
  // The identity and contacts persist: a reload of Alice's tab lists both.
  await a.page.reload();
  await a.page.waitForFunction(() => window.sottoContacts?.contacts.length === 2, null, WAIT);
  assert.equal(await a.page.evaluate(() => window.sottoContacts.publicKey), people.A.key);
});

test('what IndexedDB holds: a non-extractable AES-GCM key and the profile sealed under it (no key, name or secret in clear)', async () => {
  const a = people.A.tabs[0];
  const stored = await a.page.evaluate(async () => {
    const db = await new Promise((resolve, reject) => { const r = indexedDB.open('sotto-contacts'); r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
    const get = (k) => new Promise((resolve, reject) => { const r = db.transaction('kv').objectStore('kv').get(k); r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
    const key = await get('wrap-key');
    const profile = await get('profile');
    const exported = await crypto.subtle.exportKey('raw', key).then(() => 'exported', (e) => e.name);
    db.close();
    return { isKey: key instanceof CryptoKey, extractable: key.extractable, algorithm: key.algorithm.name, usages: key.usages, exported,
      iv: profile.iv.length, ct: [...new Uint8Array(profile.ct)], keys: Object.keys(profile).sort() };
  });
  assert.deepEqual([stored.isKey, stored.extractable, stored.algorithm, stored.exported], [true, false, 'AES-GCM', 'InvalidAccessError']);
  assert.deepEqual(stored.keys, ['ct', 'iv']);
  assert.equal(stored.iv, 12);
  const ct = Buffer.from(stored.ct);
  assert.ok(ct.length > 100, `the record holds the identity and its contacts (${ct.length} bytes)`);
  const needles = [people.A.name, people.B.name, people.C.name].map((n) => Buffer.from(n))
    .concat([people.A.key, people.B.key, people.C.key].map((k) => Buffer.from(k, 'base64url')));
  for (const n of needles) assert.equal(ct.indexOf(n), -1, 'nothing of the profile in clear');
  assert.equal(ct.indexOf(Buffer.from('SOTTOPR')), -1, 'the record itself is encrypted');
});

test('the passphrase backup: exported in one browser profile, imported in another, the same identity; a wrong passphrase is refused', async () => {
  const a = people.A.tabs[0];
  const pass = 'correct horse battery staple';
  // Argon2id with 64 MiB in the page's wasm: seconds, more on a loaded machine.
  const file = await a.page.evaluate(async (p) => [...new Uint8Array(await window.sottoContacts.exportBackup(p).arrayBuffer())], pass);
  assert.equal(String.fromCharCode(...file.slice(0, 7)), 'SOTTOID');
  const context = await browser.newContext();
  try {
    const e = await tab(context, 'Alice-restored');
    const wrong = await e.page.evaluate(async (bytes) => window.sottoContacts.importBackup(new Uint8Array(bytes), 'wrong passphrase').then(() => 'imported', (err) => err.code), file);
    assert.equal(wrong, 'backup-rejected');
    const altered = file.slice();
    altered[altered.length - 1] ^= 1;
    assert.equal(await e.page.evaluate(async ([bytes, p]) => window.sottoContacts.importBackup(new Uint8Array(bytes), p).then(() => 'imported', (err) => err.code), [altered, pass]), 'backup-rejected');
    assert.equal(await e.page.evaluate(() => window.sottoContacts.hasIdentity), false);
    await e.page.evaluate(async ([bytes, p]) => window.sottoContacts.importBackup(new Uint8Array(bytes), p), [file, pass]);
    assert.deepEqual(await e.page.evaluate(() => [window.sottoContacts.publicKey, window.sottoContacts.name]), [people.A.key, people.A.name]);
    // Kept: a reload of the restored profile is still Alice.
    await e.page.reload();
    await e.page.waitForFunction(() => window.sottoContacts?.hasIdentity, null, WAIT);
    assert.equal(await e.page.evaluate(() => window.sottoContacts.publicKey), people.A.key);
  } finally {
    await context.close();
  }
});

test('presence: a contact goes online, offline and online again (measured on loopback)', async () => {
  const a = people.A.tabs[0];
  await waitPresence(a, people.B, 'online');
  await waitPresence(a, people.C, 'online');
  // Bob closes his only tab: offline at Alice's.
  const t0 = Date.now();
  await people.B.tabs[0].page.close();
  await waitPresence(a, people.B, 'offline');
  const down = Date.now() - t0;
  // And comes back: the identity is still there (IndexedDB), online again.
  const t1 = Date.now();
  people.B.tabs = [await tab(people.B.context, 'Bob')];
  await waitPresence(a, people.B, 'online');
  const up = Date.now() - t1;
  assert.equal(await people.B.tabs[0].page.evaluate(() => window.sottoContacts.publicKey), people.B.key);
  console.log(`presence: offline seen ${down} ms after the tab closed, online ${up} ms after a new tab started loading (includes page load)`);
  // Carol never saw Bob's presence go through Alice: she has her own pair's channel.
  await waitPresence(people.C.tabs[0], people.B, 'online');
});

async function callFromList(caller, callee) {
  const t = caller.tabs[0];
  await waitPresence(t, callee, 'online');
  // Every tab of the callee hears the caller's channel (it sees the caller online) before the ring.
  for (const other of callee.tabs) await waitPresence(other, caller, 'online');
  await t.page.click(`${row(null, callee)} .call-contact`);
  await t.page.waitForFunction(() => document.querySelector('#outgoing')?.dataset.call, null, WAIT);
  return t.page.evaluate(() => document.querySelector('#outgoing').dataset.call);
}
const outcome = (t) => t.page.waitForFunction(() => document.querySelector('#outgoing')?.dataset.outcome, null, WAIT).then((h) => h.jsonValue());
const ringingCall = (t) => t.page.waitForFunction(() => !document.querySelector('#incoming').hidden && document.querySelector('#incoming').dataset.call, null, WAIT).then((h) => h.jsonValue());
async function inCall(t) {
  try {
    await t.page.waitForFunction(() => window.sotto.call?.roomId && window.sotto.call.participants.size >= 1, null, { timeout: 45_000 });
  } catch (error) {
    const state = await t.page.evaluate(() => ({
      hash: location.hash, room: window.sotto.call?.roomId ?? null, participants: window.sotto.call?.participants.size ?? null,
      status: document.querySelector('#status').textContent, error: document.querySelector('#error').textContent,
      lobby: !document.querySelector('#lobby').hidden, contacts: document.querySelector('#contacts-status').textContent,
      outgoing: document.querySelector('#outgoing').textContent, incoming: document.querySelector('#incoming').textContent,
    }));
    throw new Error(`${t.label} is not in a call with someone: ${JSON.stringify(state)}`, { cause: error });
  }
}
const roomOf = (t) => t.page.evaluate(() => window.sotto.call.roomId);
async function leave(t) {
  await t.page.evaluate(() => document.getElementById('widget').leave());
  await t.page.waitForFunction(() => !document.querySelector('#lobby').hidden, null, WAIT);
}
async function clearOutgoing(t) {
  await t.page.evaluate(() => { const o = document.querySelector('#outgoing'); delete o.dataset.call; delete o.dataset.outcome; });
}

test('ring -> accept: both end up in the same call; a third contact then hears busy', async () => {
  const [a, b, c] = [people.A.tabs[0], people.B.tabs[0], people.C.tabs[0]];
  const call = await callFromList(people.A, people.B);
  assert.equal(await ringingCall(b), call);
  assert.equal(await b.page.textContent('#incoming-title'), `${people.A.name} is calling`);
  await axeCheck(b, 'incoming call');
  await b.page.click('#accept-call');
  assert.equal(await outcome(a), 'answered');
  await inCall(a);
  await inCall(b);
  assert.equal(await roomOf(a), await roomOf(b), 'the same room');
  const secrets = new Set([await a.page.evaluate(() => location.hash.slice(1)), await b.page.evaluate(() => location.hash.slice(1))]);
  assert.equal(secrets.size, 1, 'the callee joined the room the caller made, with its secret');
  for (const s of secrets) roomSecrets.add(s);
  // Bob is in a call: Carol sees him busy, and a ring is answered busy without ringing him.
  await waitPresence(c, people.B, 'busy');
  await waitPresence(b, people.C, 'online');
  const busy = await c.page.evaluate((key) => new Promise((resolve, reject) => {
    window.sottoContacts.addEventListener('outcome', (e) => resolve(e.detail.outcome), { once: true });
    window.sottoContacts.call(key, `${location.origin}/#${'x'.repeat(43)}`).catch(reject);
  }), people.B.key);
  assert.equal(busy, 'busy');
  assert.equal(await b.page.evaluate(() => document.querySelector('#incoming').hidden), true, 'a busy callee is not rung');
  await leave(a);
  await leave(b);
  await waitPresence(c, people.B, 'online');
  await clearOutgoing(a);
});

test('decline and cancel are reported; a cancelled ring is a missed call', async () => {
  const [a, c] = [people.A.tabs[0], people.C.tabs[0]];
  let call = await callFromList(people.C, people.A);
  assert.equal(await ringingCall(a), call);
  await a.page.click('#decline-call');
  assert.equal(await outcome(c), 'declined');
  await a.page.waitForFunction(() => document.querySelector('#incoming').hidden, null, WAIT);
  await clearOutgoing(c);

  call = await callFromList(people.C, people.A);
  assert.equal(await ringingCall(a), call);
  await c.page.click('#cancel-call');
  assert.equal(await outcome(c), 'cancelled');
  await a.page.waitForFunction(() => document.querySelector('#incoming').hidden && document.querySelector('#incoming').dataset.stopped === 'missed', null, WAIT);
  assert.match(await a.page.textContent('#missed-list'), new RegExp(people.C.name));
  await clearOutgoing(c);
});

test('two tabs of one identity both ring; when one answers the other stops', async () => {
  const a = people.A.tabs[0];
  const b1 = people.B.tabs[0];
  const b2 = await tab(people.B.context, 'Bob-2');
  people.B.tabs.push(b2);
  assert.equal(await b2.page.evaluate(() => window.sottoContacts.publicKey), people.B.key, 'the same identity');
  await b2.page.waitForSelector(row(null, people.A), WAIT);
  const call = await callFromList(people.A, people.B);
  assert.equal(await ringingCall(b1), call);
  assert.equal(await ringingCall(b2), call);
  await b2.page.click('#accept-call');
  await b1.page.waitForFunction(() => document.querySelector('#incoming').hidden && document.querySelector('#incoming').dataset.stopped === 'answered-elsewhere', null, WAIT);
  await inCall(a);
  await inCall(b2);
  assert.equal(await roomOf(a), await roomOf(b2));
  assert.equal(await b1.page.evaluate(() => window.sotto.call?.roomId ?? null), null, 'the tab that did not answer stays out of the call');
  assert.equal(await b1.page.evaluate(() => document.querySelector('#missed').hidden), true, 'answered elsewhere is not a missed call');
  roomSecrets.add(await a.page.evaluate(() => location.hash.slice(1)));
  await leave(a);
  await leave(b2);
});

test('calling a contact with no tab open: no answer at once, and a missed-call notice waits in their mailbox until they come back (then deleted)', async () => {
  const a = people.A.tabs[0];
  for (const t of people.B.tabs) await t.page.close();
  people.B.tabs = [];
  await waitPresence(a, people.B, 'offline');
  const outcome = await a.page.evaluate((key) => new Promise((resolve, reject) => {
    window.sottoContacts.addEventListener('outcome', (e) => resolve(e.detail.outcome), { once: true });
    window.sottoContacts.call(key, `${location.origin}/#${'y'.repeat(43)}`).catch(reject);
  }), people.B.key);
  assert.equal(outcome, 'no-answer');
  const b = await tab(people.B.context, 'Bob-back');
  people.B.tabs = [b];
  await b.page.waitForFunction(() => !document.querySelector('#missed').hidden, null, WAIT);
  assert.match(await b.page.textContent('#missed-list'), new RegExp(`${people.A.name} at .*while you were away`));
  assert.equal(await b.page.evaluate(() => document.querySelectorAll('#missed-list li').length), 1);
  // Delivered once: after a reload (its inboxes taken again when the socket opens) nothing is left.
  await b.page.reload();
  await b.page.waitForFunction(() => window.sottoContacts?.contacts.length === 2, null, WAIT);
  await waitPresence(b, people.A, 'online');
  // Wait until the reloaded tab has taken all its inboxes again (2 contacts x 8 days).
  await b.page.waitForFunction(() => performance.getEntriesByType('resource').filter((e) => e.name.includes('/take')).length >= 16, null, WAIT);
  assert.equal(await b.page.evaluate(() => document.querySelector('#missed').hidden), true, 'the notice was delivered once');
});

test('one identity in Firefox: paired by opening a link, presence both ways, rung and answered into the same call', { skip: !existsSync(FIREFOX) && `${FIREFOX} is missing` }, async () => {
  const a = people.A.tabs[0];
  const link = await makeLink(a);
  const firefox = await launchFirefox();
  try {
    const context = await firefox.createBrowserContext();
    const page = await context.newPage();
    const log = [];
    page.on('console', (m) => log.push(`[Dora/Firefox] ${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => log.push(`[Dora/Firefox] pageerror: ${e.message}`));
    opened.push({ log, label: 'Dora' });
    const FF = { timeout: 30_000 };
    await page.goto(link);
    try {
      await page.waitForFunction(() => window.sottoContacts && window.sotto && !document.querySelector('#join').disabled, FF);
    } catch (error) {
      const state = await page.evaluate(() => ({ contacts: !!window.sottoContacts, sotto: !!window.sotto, join: document.querySelector('#join')?.disabled, note: document.querySelector('#contacts-status')?.textContent }));
      throw new Error(`Firefox page not ready: ${JSON.stringify(state)} ${log.join(' | ')}`, { cause: error });
    }
    const name = `Dora ${randomBytes(8).toString('hex')}`;
    await page.evaluate((n) => { document.querySelector('#contacts-name').value = n; document.querySelector('#contacts-create').click(); }, name);
    try {
      await page.waitForFunction((sel) => document.querySelector(sel), FF, row(null, people.A));
    } catch (error) {
      const state = await page.evaluate(() => ({ me: !document.querySelector('#contacts-me').hidden, note: document.querySelector('#contacts-status')?.textContent }));
      const aNote = await a.page.textContent('#contacts-status');
      const reqs = proxy.record.requests.filter((r) => r.url.startsWith('/api/mailbox')).slice(-8).map((r) => `${r.method} ${r.url} ${r.headers['user-agent']?.slice(-20)} ${r.headers.origin}`);
      throw new Error(`Firefox did not pair: ${JSON.stringify(state)} A: ${aNote} ${reqs.join(' ; ')} ${log.join(' | ')}`, { cause: error });
    }
    const key = await page.evaluate(() => window.sottoContacts.publicKey);
    people.D = { label: 'Dora', name, key, tabs: [] };
    await a.page.waitForSelector(row(null, people.D), WAIT);
    // The same safety number in both browsers.
    assert.equal(await page.evaluate((sel) => document.querySelector(`${sel} .safety-number`).textContent, row(null, people.A)),
      await a.page.textContent(`${row(null, people.D)} .safety-number`));
    await waitPresence(a, people.D, 'online');
    await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.presence === 'online', FF, row(null, people.A));
    // Alice rings Dora; Dora answers in Firefox; both in the same room.
    await a.page.click(`${row(null, people.D)} .call-contact`);
    await page.waitForFunction(() => !document.querySelector('#incoming').hidden, FF);
    assert.equal(await page.evaluate(() => document.querySelector('#incoming-title').textContent), `${people.A.name} is calling`);
    await page.evaluate(() => document.querySelector('#accept-call').click());
    assert.equal(await outcome(a), 'answered');
    await inCall(a);
    await page.waitForFunction(() => window.sotto.call?.roomId && window.sotto.call.participants.size >= 1, { timeout: 45_000 });
    assert.equal(await page.evaluate(() => window.sotto.call.roomId), await roomOf(a));
    roomSecrets.add(await a.page.evaluate(() => location.hash.slice(1)));
    await leave(a);
    await clearOutgoing(a);
    // Dora's browser goes away: offline at Alice's.
    await page.close();
    await waitPresence(a, people.D, 'offline');
  } finally {
    await firefox.close();
  }
});

test('the server never received an identity key, a display name, a contact link secret or a room secret', async () => {
  const everyone = [people.A, people.B, people.C, people.D].filter(Boolean);
  const needles = [];
  for (const p of everyone) {
    needles.push(...encodings(Buffer.from(p.key, 'base64url')), p.name, encodeURIComponent(p.name));
  }
  for (const s of roomSecrets) needles.push(s, ...encodings(Buffer.from(s, 'base64url')));
  const ws = proxy.record.messages.map((m) => m.text ?? (m.bytes ? m.bytes.toString('latin1') : ''));
  const presence = proxy.record.messages.filter((m) => m.url === '/ws/presence');
  const urls = proxy.record.requests.map((r) => r.url);
  // The record is not empty: presence lists, sealed notifies and mailbox posts all went by.
  const sent = (type) => presence.filter((m) => m.direction === 'to-server' && m.text?.includes(`"type":"${type}"`)).length;
  assert.ok(sent('announce') >= 6 && sent('subscribe') >= 6, `announce ${sent('announce')}, subscribe ${sent('subscribe')}`);
  assert.ok(sent('notify') >= 8, `notify ${sent('notify')}`);
  assert.ok(mailboxBodies.filter((b) => b.length > 100).length >= 3, 'pairing requests and replies were posted');
  assert.ok(urls.some((u) => u.startsWith('/api/mailbox/')));
  const found = findAny([...ws, ...urls, ...mailboxBodies], needles);
  assert.equal(found, null, `leaked: ${JSON.stringify(found)}`);
  // Ids on the wire are opaque: every presence channel is 22 characters of base64url.
  for (const m of presence.filter((x) => x.direction === 'to-server')) {
    const msg = JSON.parse(m.text);
    for (const ch of msg.channels ?? (msg.channel ? [msg.channel] : [])) assert.match(ch, /^[A-Za-z0-9_-]{22}$/);
  }
  // The contact-link secrets: the part after the key in each link never crossed.
  const linkSecrets = (await people.A.tabs[0].page.evaluate(() => [...document.querySelectorAll('#contact-link')].map((i) => i.value)))
    .map((l) => l.split('.').at(-1));
  assert.equal(findAny([...ws, ...urls, ...mailboxBodies], linkSecrets.flatMap((s) => [s, ...encodings(Buffer.from(s, 'base64url'))])), null);
});
