// TURN credentials: coturn REST-API style, verified with the test secret of this run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { ORIGIN } from './lib.mjs';

test('POST /api/turn-credentials returns short-lived HMAC-SHA1 credentials', async () => {
  const r = await fetch(`${ORIGIN}/api/turn-credentials`, { method: 'POST', headers: { origin: ORIGIN } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  const body = await r.json();
  assert.deepEqual(Object.keys(body).sort(), ['credential', 'ttl', 'urls', 'username']);
  assert.equal(body.ttl, 600);
  assert.deepEqual(body.urls, ['turn:127.0.0.1:3478?transport=udp', 'turns:127.0.0.1:5349']);
  const [expiry, nonce] = body.username.split(':');
  const now = Math.floor(Date.now() / 1000);
  assert.ok(Math.abs(Number(expiry) - (now + 600)) <= 5, 'expiry = now + ttl');
  assert.match(nonce, /^[A-Za-z0-9_-]{22}$/);
  const secret = process.env.SOTTO_TURN_SECRET;
  assert.ok(secret, 'run through run.sh');
  assert.equal(body.credential, createHmac('sha1', secret).update(body.username).digest('base64'));
  const again = await (await fetch(`${ORIGIN}/api/turn-credentials`, { method: 'POST' })).json();
  assert.notEqual(again.username, body.username, 'fresh random part each time');
});

test('TURN credentials refuse foreign origins', async () => {
  const r = await fetch(`${ORIGIN}/api/turn-credentials`, { method: 'POST', headers: { origin: 'https://evil.example' } });
  assert.equal(r.status, 403);
  assert.equal((await r.json()).code, 'origin-not-allowed');
});

// CORS: a caller the origin policy lets in gets its own origin back (a page on a static host
// listed in ALLOWED_ORIGINS reads the credentials across origins: e2e/deployment.test.mjs);
// run.sh leaves ALLOWED_ORIGINS empty, so here that is the worker's own origin.
test('TURN credentials: CORS for an allowed origin, none for others', async () => {
  let r = await fetch(`${ORIGIN}/api/turn-credentials`, { method: 'POST', headers: { origin: ORIGIN } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), ORIGIN);
  assert.match(r.headers.get('vary') ?? '', /origin/i);
  assert.equal(r.headers.get('access-control-allow-credentials'), null, 'no credentials mode');
  assert.ok((await r.json()).credential);
  // The preflight a browser sends when the request has a content-type.
  r = await fetch(`${ORIGIN}/api/turn-credentials`, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
  assert.equal(r.status, 204);
  assert.equal(r.headers.get('access-control-allow-origin'), ORIGIN);
  assert.equal(r.headers.get('access-control-allow-methods'), 'POST');
  // Not allowed: refused, with nothing that lets a browser read the refusal.
  for (const method of ['POST', 'OPTIONS']) {
    r = await fetch(`${ORIGIN}/api/turn-credentials`, { method, headers: { origin: 'https://static.example' } });
    assert.equal(r.status, 403, method);
    assert.equal(r.headers.get('access-control-allow-origin'), null, method);
  }
  // Other routes give no CORS at all (WebSocket upgrades are checked on Origin instead).
  r = await fetch(`${ORIGIN}/no/such/thing`, { headers: { origin: ORIGIN } });
  assert.equal(r.status, 404);
  assert.equal(r.headers.get('access-control-allow-origin'), null);
});
