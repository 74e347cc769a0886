// Presence: announce/subscribe, online/offline fan-out on connect/disconnect, limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, channelId, sleep } from './lib.mjs';

const presence = (c, channel, online) => (m) => m.type === 'presence' && m.channel === channel && m.online === online;

test('online on announce, offline when the last announcer disconnects', async () => {
  const ch = channelId();
  const other = channelId();
  const watcher = await connect('/ws/presence');
  watcher.send({ v: 2, type: 'subscribe', channels: [ch, other] });
  await watcher.next(presence(watcher, ch, false));
  const a1 = await connect('/ws/presence');
  const a2 = await connect('/ws/presence');
  a1.send({ v: 2, type: 'announce', channels: [ch] });
  await watcher.next(presence(watcher, ch, true));
  a2.send({ v: 2, type: 'announce', channels: [ch] });
  await a2.alive();
  a1.close();
  await sleep(200);
  assert.equal(watcher.inbox.filter(presence(watcher, ch, false)).length, 1, 'still online while a2 announces');
  a2.ws.terminate();
  await watcher.next((m) => watcher.inbox.filter(presence(watcher, ch, false)).length === 2);
  // A late subscriber sees the current state at once; no history is kept.
  const late = await connect('/ws/presence');
  late.send({ v: 2, type: 'subscribe', channels: [ch] });
  await late.next(presence(late, ch, false));
  assert.equal(watcher.inbox.filter((m) => m.channel === other).length, 1, 'unrelated channel: only its initial state');
  watcher.close(); late.close();
});

test('presence limits and errors', async () => {
  const c = await connect('/ws/presence');
  c.send({ v: 2, type: 'announce', channels: Array.from({ length: 33 }, channelId) });
  await c.error('too-many-channels');
  c.send({ v: 2, type: 'subscribe', channels: Array.from({ length: 257 }, channelId) });
  await c.error('too-many-channels', { from: 1 });
  c.send({ v: 2, type: 'subscribe', channels: ['short'] });
  await c.error('invalid-channel-id');
  c.send({ v: 2, type: 'join', peer: 'a', identity: 'AAAA' });
  await c.error('unknown-type');
  c.send(new Uint8Array([0xff, 0x00]));
  await c.error('binary-frame');
  c.send({ v: 2, type: 'subscribe', channels: Array.from({ length: 256 }, channelId) });
  await c.next((m) => c.inbox.filter((x) => x.type === 'presence').length === 256);
  assert.ok(await c.alive());
  c.close();
});

test('presence join timeout: a socket that never announces or subscribes is closed 4408', async () => {
  const c = await connect('/ws/presence');
  c.send({ v: 2, type: 'ping' }); // a ping is not an announce/subscribe
  await c.error('join-timeout', { timeout: Number(process.env.SOTTO_JOIN_TIMEOUT_MS ?? 10_000) + 5000 });
  assert.equal((await c.closed()).code, 4408);
});
