// Live notifications on presence channels (contacts' ringing, signaling/src/notify.rs): only an
// announcer of a channel reaches its subscribers; nothing is stored; bad requests are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, channelId, sleep } from './lib.mjs';

// Written exactly in the canonical form the worker recognises (JSON.stringify keeps key order).
const notify = (channel, payload) => JSON.stringify({ v: 2, type: 'notify', channel, payload });

test('a notify reaches every subscriber of a channel its sender announces, within a second', async () => {
  const ch = channelId();
  const caller = await connect('/ws/presence');
  const tab1 = await connect('/ws/presence');
  const tab2 = await connect('/ws/presence');
  const bystander = await connect('/ws/presence');
  caller.send({ v: 2, type: 'announce', channels: [ch] });
  for (const t of [tab1, tab2]) {
    t.send({ v: 2, type: 'subscribe', channels: [ch] });
    await t.next((m) => m.type === 'presence' && m.channel === ch && m.online);
  }
  bystander.send({ v: 2, type: 'subscribe', channels: [channelId()] });
  const payload = randomBytes(96).toString('base64url'); // a sealed ring message's size
  const sent = Date.now();
  caller.send(notify(ch, payload));
  const expected = { type: 'notify', v: 2, channel: ch, payload };
  assert.deepEqual(await tab1.next((m) => m.type === 'notify'), expected);
  assert.deepEqual(await tab2.next((m) => m.type === 'notify'), expected);
  assert.ok(Date.now() - sent < 1000, `took ${Date.now() - sent} ms`);
  assert.deepEqual(await caller.next((m) => m.type === 'notified'), { type: 'notified', v: 2, channel: ch, delivered: 2 });
  await sleep(100);
  assert.equal(bystander.inbox.filter((m) => m.type === 'notify').length, 0);
  assert.equal(caller.inbox.filter((m) => m.type === 'notify').length, 0, 'not echoed to the sender');
  // A subscriber that joins later gets nothing of it: nothing is kept.
  const late = await connect('/ws/presence');
  late.send({ v: 2, type: 'subscribe', channels: [ch] });
  await late.next((m) => m.type === 'presence');
  await sleep(100);
  assert.equal(late.inbox.filter((m) => m.type === 'notify').length, 0);
  for (const c of [caller, tab1, tab2, bystander, late]) c.close();
});

test('only an announcer of the channel is delivered for; malformed notifies are refused', async () => {
  const ch = channelId();
  const owner = await connect('/ws/presence');
  const sub = await connect('/ws/presence');
  const intruder = await connect('/ws/presence');
  owner.send({ v: 2, type: 'announce', channels: [ch] });
  sub.send({ v: 2, type: 'subscribe', channels: [ch] });
  await sub.next((m) => m.type === 'presence' && m.online);
  intruder.send({ v: 2, type: 'announce', channels: [channelId()] });
  intruder.send(notify(ch, 'AAAA'));
  assert.equal((await intruder.next((m) => m.type === 'notified')).delivered, 0);
  for (const bad of [notify(ch, 'not base64!'), notify('short', 'AAAA'), notify(ch, 'A'.repeat(1367)), notify(ch, 'AAAA').replace(',', ', ')]) {
    const from = intruder.inbox.length;
    intruder.send(bad);
    await intruder.next((m) => m.type === 'error', { from });
  }
  await sleep(100);
  assert.equal(sub.inbox.filter((m) => m.type === 'notify').length, 0);
  for (const c of [owner, sub, intruder]) c.close();
});
