// The room after hibernation: the runtime evicts an idle Durable Object while its sockets stay
// open, and the next message finds a fresh object that must rebuild the room from the sockets'
// records (the synchronous handlers' slow path: no socket marks, the tags instead, and the
// alarm set by a promise). Runs its own raw workerd (own limits, no dev proxy), which evicts an
// object about 10 s after its last event. The proof that the object was rebuilt: the rate
// limiter restarts full on a rebuild (RATE_PER_SEC 0, burst 6), so six signals pass that an
// object still in memory would cut off after two.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { SOTTO_WORKER, startWorkerd } from './workerd.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function join(url, peer) {
  const ws = new WebSocket(url);
  ws.inbox = [];
  ws.on('message', (d) => ws.inbox.push(JSON.parse(d)));
  ws.on('close', (code) => ws.inbox.push({ closed: code }));
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  ws.send(JSON.stringify({ v: 2, type: 'join', peer, identity: 'AAAA' }));
  const deadline = Date.now() + 3000;
  while (!ws.inbox.some((m) => m.type === 'welcome')) {
    assert.ok(Date.now() < deadline, `no welcome for ${peer}: ${JSON.stringify(ws.inbox)}`);
    await sleep(10);
  }
  return ws;
}

async function until(predicate, what) {
  const deadline = Date.now() + 3000;
  while (!predicate()) {
    assert.ok(Date.now() < deadline, what());
    await sleep(10);
  }
}

test('a room rebuilt after eviction keeps its roster and relays with the right sender', { timeout: 60_000 }, async () => {
  const worker = await startWorkerd({ worker: SOTTO_WORKER, vars: { JOIN_TIMEOUT_MS: '1000', RATE_PER_SEC: '0', RATE_BURST: '6' } });
  const url = `${worker.origin.replace('http', 'ws')}/ws/room/${randomBytes(18).toString('base64url')}`;
  const open = [];
  try {
    const alice = await join(url, 'alice');
    const bob = await join(url, 'bob');
    open.push(alice, bob);
    const signals = (ws) => ws.inbox.filter((m) => m.type === 'signal');
    const send = (n) => { for (let i = 0; i < n; i += 1) alice.send(JSON.stringify({ v: 2, type: 'signal', to: 'bob', payload: `m${i}` })); };
    // join + 3 signals: 2 of alice's 6 tokens left while the object stays in memory.
    send(3);
    await until(() => signals(bob).length === 3, () => `bob got ${JSON.stringify(bob.inbox)}`);
    // Idle past eviction (the join timeout's alarm at 1 s is the object's last event).
    await sleep(14_000);
    bob.inbox.length = 0;
    send(6);
    await until(() => signals(bob).length === 6, () => `after eviction bob got ${JSON.stringify(bob.inbox)}; alice ${JSON.stringify(alice.inbox)}`);
    assert.deepEqual(signals(bob)[0], { type: 'signal', v: 2, from: 'alice', to: 'bob', payload: 'm0' });
    assert.ok(!alice.inbox.some((m) => m.type === 'error' || m.closed), JSON.stringify(alice.inbox));
    // The rebuilt roster: a newcomer is welcomed with both, and both hear of it.
    const carol = await join(url, 'carol');
    open.push(carol);
    assert.deepEqual(carol.inbox.find((m) => m.type === 'welcome').peers.map((p) => p.peer), ['alice', 'bob']);
    await until(() => bob.inbox.some((m) => m.type === 'peer-joined'), () => `bob: ${JSON.stringify(bob.inbox)}`);
    // And bob, whose socket was rebuilt from its record, still sends as bob.
    bob.send(JSON.stringify({ v: 2, type: 'signal', to: 'carol', payload: 'hi' }));
    await until(() => carol.inbox.some((m) => m.type === 'signal'), () => `carol: ${JSON.stringify(carol.inbox)}`);
    assert.equal(carol.inbox.find((m) => m.type === 'signal').from, 'bob');
  } finally {
    for (const ws of open) ws.terminate();
    await worker.stop();
  }
});
