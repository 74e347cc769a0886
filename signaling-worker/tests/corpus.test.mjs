// Every hostile input gets its typed error (and close code where one is due), the hostile
// connection stays consistent (it still answers ping, or it is closed), and two honest peers
// talking in the same room all along lose nothing and see nothing they should not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { corpus } from './corpus.mjs';
import { connect, joinRoom, roomId, sleep } from './lib.mjs';

test(`hostile corpus (${corpus.length} inputs)`, async () => {
  assert.ok(corpus.length >= 30);
  const room = roomId();
  const victim = await joinRoom(room, 'victim');
  const buddy = await joinRoom(room, 'buddy');
  const outsider = await joinRoom(roomId(), 'outsider');
  // The honest pair exchanges sequence-numbered signals throughout.
  let seq = 0;
  const chatter = setInterval(() => {
    buddy.send({ v: 2, type: 'signal', to: 'victim', payload: `seq:${seq}` });
    victim.send({ v: 2, type: 'signal', to: 'buddy', payload: `seq:${seq}` });
    seq += 1;
    if (seq % 10 === 0) for (const c of [buddy, victim, outsider]) c.send({ v: 2, type: 'ping' }); // stay under the idle timeout
  }, 40);

  const results = [];
  try {
    for (const [i, entry] of corpus.entries()) {
      const self = `hostile${i}`;
      const fill = (f) => (typeof f === 'string'
        ? f.replaceAll('{SELF}', self).replaceAll('{VICTIM}', 'victim').replaceAll('{OUTSIDER}', 'outsider')
        : f);
      const c = await connect(`/ws/room/${room}`);
      if (entry.joined) {
        c.send({ v: 2, type: 'join', peer: self, identity: 'AAAA' });
        await c.next((m) => m.type === 'welcome');
      }
      const from = c.inbox.length;
      for (let n = 0; n < (entry.flood ?? 1); n++) {
        if (c.ws.readyState !== 1) break;
        c.send(fill(entry.frame));
      }
      const err = await c.next((m) => m.type === 'error' && m.code === entry.code, { from, timeout: 5000 })
        .catch((e) => assert.fail(`${entry.name}: expected ${entry.code}: ${e.message}`));
      assert.equal(typeof err.message, 'string');
      if (entry.close) {
        assert.equal((await c.closed()).code, entry.close, entry.name);
      } else {
        assert.ok(await c.alive(), `${entry.name}: connection still answers ping`);
        // State stays consistent: a joined hostile is still joined, an unjoined one can still join.
        if (!entry.joined) {
          const f2 = c.inbox.length;
          c.send({ v: 2, type: 'join', peer: self, identity: 'AAAA' });
          const reply = await c.next((m) => m.type === 'welcome' || m.type === 'error', { from: f2 });
          assert.equal(reply.type, 'welcome', `${entry.name}: can still join afterwards`);
        }
        c.close();
        await c.closed();
      }
      results.push(entry.name);
    }
  } finally {
    clearInterval(chatter);
  }
  const sent = seq;
  // Let the last relays land.
  await victim.next((m) => m.type === 'signal' && m.from === 'buddy' && m.payload === `seq:${sent - 1}`, { timeout: 5000 });
  await buddy.next((m) => m.type === 'signal' && m.from === 'victim' && m.payload === `seq:${sent - 1}`, { timeout: 5000 });
  for (const [me, other] of [[victim, 'buddy'], [buddy, 'victim']]) {
    const got = me.inbox.filter((m) => m.type === 'signal' && m.from === other).map((m) => m.payload);
    assert.deepEqual(got, Array.from({ length: sent }, (_, i) => `seq:${i}`), 'nothing lost, duplicated or reordered');
    const foreign = me.inbox.filter((m) => m.type === 'signal' && m.from !== other);
    // Only the flood at the victim may reach it, and only as signals from that hostile peer.
    for (const m of foreign) {
      assert.equal(m.payload, 'flood');
      assert.notEqual(m.from, 'outsider');
    }
    assert.equal(me.inbox.filter((m) => m.type === 'error').length, 0, 'honest peers got no errors');
    assert.ok(await me.alive());
  }
  assert.deepEqual(outsider.inbox.filter((m) => m.type !== 'welcome' && m.type !== 'pong'), [], 'the other room heard nothing');
  console.log(`corpus: ${results.length} hostile inputs refused with their codes; ${sent} honest relays each way, none lost`);
  victim.close(); buddy.close(); outsider.close();
  await sleep(50);
});
