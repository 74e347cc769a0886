// Room behaviour against the real worker: join, roster, relay, leave, and every limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, joinRoom, roomId, sleep, ORIGIN } from './lib.mjs';

const MAX_PEERS = Number(process.env.SOTTO_MAX_PEERS ?? 8);
const JOIN_TIMEOUT_MS = Number(process.env.SOTTO_JOIN_TIMEOUT_MS ?? 10_000);
const IDLE_TIMEOUT_MS = Number(process.env.SOTTO_IDLE_TIMEOUT_MS ?? 60_000);

test('join, roster, relay with from set by the worker, leave', async () => {
  const room = roomId();
  const a = await joinRoom(room, 'alice', 'AAAA');
  assert.deepEqual(a.welcome, { type: 'welcome', v: 2, you: 'alice', peers: [], max_peers: MAX_PEERS });
  const b = await joinRoom(room, 'bob', 'BBBB');
  assert.deepEqual(b.welcome.peers, [{ peer: 'alice', identity: 'AAAA' }]);
  assert.deepEqual(await a.next((m) => m.type === 'peer-joined'), { type: 'peer-joined', v: 2, peer: { peer: 'bob', identity: 'BBBB' } });
  b.send({ v: 2, type: 'signal', to: 'alice', payload: '{"type":"offer","sdp":"v=0"}' });
  assert.deepEqual(await a.next((m) => m.type === 'signal'), { type: 'signal', v: 2, from: 'bob', to: 'alice', payload: '{"type":"offer","sdp":"v=0"}' });
  b.send({ v: 2, type: 'leave' });
  assert.equal((await b.closed()).code, 1000);
  assert.deepEqual(await a.next((m) => m.type === 'peer-left'), { type: 'peer-left', v: 2, peer: 'bob' });
  // bob's id is free again
  const b2 = await joinRoom(room, 'bob', 'BBBB');
  assert.equal(b2.welcome.type, 'welcome');
  a.close(); b2.close();
});

test('a dropped socket is announced as peer-left', async () => {
  const room = roomId();
  const a = await joinRoom(room, 'a');
  const b = await joinRoom(room, 'b');
  b.ws.terminate();
  assert.equal((await a.next((m) => m.type === 'peer-left')).peer, 'b');
  a.close();
});

test('rooms are isolated: a signal to a peer in another room is unknown-peer', async () => {
  const a = await joinRoom(roomId(), 'alice');
  const b = await joinRoom(roomId(), 'bob');
  a.send({ v: 2, type: 'signal', to: 'bob', payload: 'x' });
  await a.error('unknown-peer');
  await sleep(100);
  assert.equal(b.inbox.filter((m) => m.type === 'signal').length, 0);
  a.close(); b.close();
});

test('duplicate peer id: 4409, the original stays', async () => {
  const room = roomId();
  const a = await joinRoom(room, 'same');
  const b = await joinRoom(room, 'same');
  assert.equal(b.welcome.code, 'duplicate-peer');
  assert.equal((await b.closed()).code, 4409);
  assert.ok(await a.alive());
  a.close();
});

test(`room full at ${MAX_PEERS} peers: 4503`, async () => {
  const room = roomId();
  const peers = [];
  for (let i = 0; i < MAX_PEERS; i++) peers.push(await joinRoom(room, `p${i}`));
  const extra = await joinRoom(room, 'extra');
  assert.equal(extra.welcome.code, 'room-full');
  assert.equal((await extra.closed()).code, 4503);
  for (const p of peers) { assert.ok(await p.alive()); p.close(); }
});

test('message before join: not-joined; join twice: already-joined', async () => {
  const room = roomId();
  const c = await connect(`/ws/room/${room}`);
  c.send({ v: 2, type: 'signal', to: 'x', payload: 'y' });
  await c.error('not-joined');
  c.send({ v: 2, type: 'join', peer: 'me', identity: 'AAAA' });
  await c.next((m) => m.type === 'welcome');
  c.send({ v: 2, type: 'join', peer: 'me2', identity: 'AAAA' });
  await c.error('already-joined');
  assert.ok(await c.alive());
  c.close();
});

test('frame larger than 65,536 bytes: 4413', async () => {
  const room = roomId();
  const a = await joinRoom(room, 'a');
  const b = await joinRoom(room, 'b');
  b.send('x'.repeat(70_000));
  await b.error('message-too-large');
  assert.equal((await b.closed()).code, 4413);
  assert.equal((await a.next((m) => m.type === 'peer-left')).peer, 'b');
  // The largest legal payload still goes through.
  const c = await joinRoom(room, 'c');
  const payload = 'p'.repeat(60_000);
  c.send({ v: 2, type: 'signal', to: 'a', payload });
  assert.equal((await a.next((m) => m.type === 'signal')).payload.length, 60_000);
  a.close(); c.close();
});

test('flood: the flooder is closed 4429, the others lose nothing', async () => {
  const room = roomId();
  const a = await joinRoom(room, 'a');
  const b = await joinRoom(room, 'b');
  const f = await joinRoom(room, 'flooder');
  for (let i = 0; i < 300; i++) f.send({ v: 2, type: 'signal', to: 'b', payload: `f${i}` });
  await f.error('rate-limited');
  assert.equal((await f.closed()).code, 4429);
  // Meanwhile a and b keep talking; every message arrives, in order.
  for (let i = 0; i < 40; i++) a.send({ v: 2, type: 'signal', to: 'b', payload: `a${i}` });
  await b.next((m) => m.type === 'signal' && m.payload === 'a39');
  const fromA = b.inbox.filter((m) => m.type === 'signal' && m.from === 'a').map((m) => m.payload);
  assert.deepEqual(fromA, Array.from({ length: 40 }, (_, i) => `a${i}`));
  const fromF = b.inbox.filter((m) => m.type === 'signal' && m.from === 'flooder');
  // The burst (100, minus the join) plus what 50/s refills while the flood is in flight.
  assert.ok(fromF.length >= 90 && fromF.length <= 130, `about the burst got through (${fromF.length})`);
  assert.ok(await a.alive());
  a.close(); b.close();
});

test('join timeout: 4408 (a ping does not count as joining)', async () => {
  const c = await connect(`/ws/room/${roomId()}`);
  const started = Date.now();
  // (Also: local workerd tears down a socket that never sent a frame only ~10 s after the
  // server's close frame; a real client always sends `join` first. See README.)
  c.send({ v: 2, type: 'ping' });
  await c.error('join-timeout', { timeout: JOIN_TIMEOUT_MS + 5000 });
  assert.equal((await c.closed()).code, 4408);
  assert.ok(Date.now() - started >= JOIN_TIMEOUT_MS - 100);
});

test('idle timeout: 4408 for the silent peer, pinging keeps the other', async () => {
  const room = roomId();
  const a = await joinRoom(room, 'pinger');
  const b = await joinRoom(room, 'silent');
  const timer = setInterval(() => a.send({ v: 2, type: 'ping' }), IDLE_TIMEOUT_MS / 4);
  try {
    await b.error('idle-timeout', { timeout: IDLE_TIMEOUT_MS + 5000 });
    assert.equal((await b.closed()).code, 4408);
    assert.equal((await a.next((m) => m.type === 'peer-left')).peer, 'silent');
    assert.ok(await a.alive());
  } finally {
    clearInterval(timer);
    a.close();
  }
});

test('origin: foreign origin 4403, same origin and no origin allowed', async () => {
  const path = `/ws/room/${roomId()}`;
  const evil = await connect(path, { origin: 'https://evil.example' });
  assert.equal((await evil.error('origin-not-allowed')).code, 'origin-not-allowed');
  assert.equal((await evil.closed()).code, 4403);
  const same = await connect(path, { origin: ORIGIN });
  assert.ok(await same.alive());
  const none = await connect(path, { origin: null });
  assert.ok(await none.alive());
  same.close(); none.close();
});

test('invalid room id in the URL: 4400 with invalid-room-id', async () => {
  for (const bad of ['short', 'x'.repeat(65), 'has%20space%20aaaaaaaaaaaaaaaaaa', `${'a'.repeat(22)}/extra`]) {
    const c = await connect(`/ws/room/${bad}`);
    await c.error('invalid-room-id');
    assert.equal((await c.closed()).code, 4400);
  }
});

test('HTTP: 404 for unknown paths, 426 without upgrade, 405 for wrong methods, no page served', async () => {
  let r = await fetch(`${ORIGIN}/no/such/thing`);
  assert.equal(r.status, 404);
  assert.equal((await r.json()).code, 'not-found');
  r = await fetch(`${ORIGIN}/ws/room/${roomId()}`);
  assert.equal(r.status, 426);
  assert.equal((await r.json()).code, 'upgrade-required');
  r = await fetch(`${ORIGIN}/ws/presence`);
  assert.equal(r.status, 426);
  r = await fetch(`${ORIGIN}/ws/room/${roomId()}`, { method: 'POST' });
  assert.equal(r.status, 405);
  r = await fetch(`${ORIGIN}/api/turn-credentials`);
  assert.equal(r.status, 405);
  // wrangler.toml has no [assets]: the worker serves no code, only its API and sockets.
  for (const page of ['/', '/index.html', '/app.js', '/pkg/sotto.js', '/pkg/sotto_client_wasm_bg.wasm']) {
    r = await fetch(`${ORIGIN}${page}`);
    assert.equal(r.status, 404, page);
    assert.equal(r.headers.get('content-type'), 'application/json', page);
    assert.equal((await r.json()).code, 'not-found', page);
  }
});
