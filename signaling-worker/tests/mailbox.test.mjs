// The offline mailbox against the real worker: delete on delivery, delete by the alarm after
// the retention (2 s in this run: MAILBOX_RETENTION_MS), limits and refusals. Deletion is
// checked in the worker's storage itself (SOTTO_STATE_DIR, the `--persist-to` folder): the
// Mailbox objects' SQLite databases must no longer hold the message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ORIGIN, sleep } from './lib.mjs';

const RETENTION_MS = Number(process.env.SOTTO_MAILBOX_RETENTION_MS ?? 2000);
const STATE_DIR = process.env.SOTTO_STATE_DIR;

const mailboxId = () => randomBytes(16).toString('base64url'); // 22 chars
const sealed = () => randomBytes(48).toString('base64url'); // stands in for a sealed message

async function put(id, body, headers = {}) {
  const res = await fetch(`${ORIGIN}/api/mailbox/${id}`, { method: 'POST', body, headers: { 'content-type': 'text/plain', ...headers } });
  return { status: res.status, json: await res.json().catch(() => null) };
}

async function take(id) {
  const res = await fetch(`${ORIGIN}/api/mailbox/${id}/take`, { method: 'POST' });
  return { status: res.status, json: await res.json() };
}

/** Every file under `dir`. */
function files(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else out.push(p);
  }
  return out;
}

/**
 * True if a Mailbox object's storage still holds `text` as a value. Reads each object's
 * SQLite database (a copy of it and its write-ahead log, so the running worker is not
 * disturbed) with Debian's `sqlite3`: rows, not bytes, because SQLite leaves deleted rows'
 * bytes in old log frames and free pages until they are overwritten (see SECURITY.md).
 */
function stored(text) {
  const hex = Buffer.from(text).toString('hex').toUpperCase();
  const tmp = mkdtempSync(path.join(tmpdir(), 'sotto-mailbox-'));
  try {
    return files(STATE_DIR)
      .filter((f) => f.includes(`${path.sep}sotto-Mailbox${path.sep}`) && /[0-9a-f]{64}\.sqlite$/.test(f))
      .some((db) => {
        const copy = path.join(tmp, path.basename(db));
        copyFileSync(db, copy);
        if (existsSync(`${db}-wal`)) copyFileSync(`${db}-wal`, `${copy}-wal`);
        const rows = execFileSync('sqlite3', [copy, 'SELECT hex(value) FROM _cf_KV;'], { encoding: 'utf8' });
        return rows.includes(hex);
      });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** True if any raw storage file still contains `text` (rows or leftovers). */
function bytesOnDisk(text) {
  const needle = Buffer.from(text);
  return files(STATE_DIR).some((f) => readFileSync(f).includes(needle));
}

async function until(pred, timeout = 5000) {
  const deadline = Date.now() + timeout;
  while (!pred()) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

test('a message is delivered once and deleted from storage on delivery', { skip: !STATE_DIR && 'needs SOTTO_STATE_DIR' }, async (t) => {
  const id = mailboxId();
  const [a, b] = [sealed(), sealed()];
  assert.deepEqual(await put(id, a), { status: 201, json: { stored: true } });
  assert.equal((await put(id, b)).status, 201);
  // The control: stored messages are on disk (so the checks below can fail).
  assert.ok(await until(() => stored(a) && stored(b)), 'stored message not found in storage');
  assert.deepEqual(await take(id), { status: 200, json: { messages: [a, b] } });
  assert.deepEqual(await take(id), { status: 200, json: { messages: [] } });
  assert.ok(await until(() => !stored(a) && !stored(b)), 'delivered message still in storage');
  t.diagnostic(`delivered message's bytes still in a storage file (old log frames): ${bytesOnDisk(a)}`);
});

test(`the alarm deletes a message after the retention (${RETENTION_MS} ms) without any request`, { skip: !STATE_DIR && 'needs SOTTO_STATE_DIR' }, async (t) => {
  const id = mailboxId();
  const body = sealed();
  assert.equal((await put(id, body)).status, 201);
  assert.ok(await until(() => stored(body)), 'stored message not found in storage');
  await sleep(RETENTION_MS / 2);
  assert.ok(stored(body), 'deleted before the retention');
  // No request to this mailbox from here on: only the alarm can delete it.
  assert.ok(await until(() => !stored(body), RETENTION_MS + 5000), 'expired message still in storage');
  t.diagnostic(`expired message's bytes still in a storage file (old log frames): ${bytesOnDisk(body)}`);
  assert.deepEqual((await take(id)).json, { messages: [] });
});

test('mailboxes are separate', async () => {
  const [x, y] = [mailboxId(), mailboxId()];
  const body = sealed();
  await put(x, body);
  assert.deepEqual((await take(y)).json, { messages: [] });
  assert.deepEqual((await take(x)).json, { messages: [body] });
});

test('refusals: bad id, bad body, too large, wrong method, foreign origin, rate limit', async () => {
  const id = mailboxId();
  for (const bad of ['short', `${id}x`, `${id.slice(0, 21)}=`]) {
    const r = await put(encodeURIComponent(bad), sealed());
    assert.equal(r.status, 400, bad);
    assert.equal(r.json.code, 'invalid-mailbox-id');
  }
  assert.deepEqual((await put(id, 'not base64!')).json, { type: 'error', code: 'invalid-message' });
  assert.equal((await put(id, '')).status, 400);
  const big = await put(id, 'A'.repeat(8193));
  assert.equal(big.status, 413);
  assert.equal(big.json.code, 'message-too-large');
  const huge = await put(id, 'A'.repeat(20_000));
  assert.equal(huge.status, 413);
  const get = await fetch(`${ORIGIN}/api/mailbox/${id}`);
  assert.equal(get.status, 405);
  const foreign = await put(id, sealed(), { origin: 'https://evil.example' });
  assert.equal(foreign.status, 403);
  // A burst of 30 at once: 20 pass (the burst; perhaps one more refilled meanwhile), the rest
  // are rate-limited, and exactly the accepted ones are delivered.
  const burst = mailboxId();
  const statuses = await Promise.all(Array.from({ length: 30 }, () => put(burst, sealed()).then((r) => r.status)));
  const stored = statuses.filter((s) => s === 201).length;
  assert.ok(stored >= 20 && stored <= 22, `stored ${stored}`);
  assert.equal(statuses.filter((s) => s === 429).length, 30 - stored);
  assert.equal((await take(burst)).json.messages.length, stored);
});
