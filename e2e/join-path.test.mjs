// The join path's waiting (issue 13 item 7: call setup may cost at most 10% more than v1), on a
// worker without TURN settings:
// - the room socket's handshake runs while the crypto worker starts: a page whose crypto worker
//   is held at `init` (for up to 5 s) has its room socket made meanwhile, makes no second one,
//   sends nothing on it before `init` went to the worker, and the call works;
// - candidates are gathered before the connection is needed: the participant already in the
//   call makes a spare peer connection (iceCandidatePoolSize 1) when the newcomer is admitted,
//   and that spare becomes its connection to the newcomer (no other one is made);
// - a worker without TURN answers the credentials request with 204 (no failed request in the
//   console of every default-mode call), and relay-only mode refuses to join there with
//   `turn-unavailable`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from './lib/worker.mjs';
import { INSTRUMENT_RESOURCES, launchChromium, openParticipant, waitInPage } from './lib/browser.mjs';
import { dumpOnFailure, firstRemote, mediaStats } from './lib/probes.mjs';

let worker;
let browser;

before(async () => {
  worker = await startWorker();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
});

// In the page before its scripts: the crypto worker's `init` is held until a room socket exists
// (or 5 s passed), and the order of what happened is kept in window.__order.
const HOLD_INIT = () => {
  const order = [];
  window.__order = order;
  let socketMade;
  const made = new Promise((resolve) => { socketMade = resolve; });
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(url, ...rest) {
      super(url, ...rest);
      if (/\/ws\/room\//.test(String(url))) {
        order.push('room-socket');
        socketMade();
      }
    }
    send(text) {
      order.push(`send:${JSON.parse(text).type}`);
      return super.send(text);
    }
  };
  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (message, transfer) {
    if (message?.op !== 'init') return post.call(this, message, transfer);
    order.push('init-held');
    let timer;
    Promise.race([made, new Promise((resolve) => { timer = setTimeout(resolve, 5000); })]).then(() => {
      clearTimeout(timer); // (the test counts the timers left running)
      order.push('init-posted');
      post.call(this, message, transfer);
    });
    return undefined;
  };
};

test('the room socket opens while the crypto worker starts: made before init reaches the worker, one socket, nothing sent before, the call works', async () => {
  const a = await openParticipant(browser, `${worker.origin}/`, { label: 'A', initScripts: [INSTRUMENT_RESOURCES, HOLD_INIT] });
  const b = await openParticipant(browser, a.page.url(), { label: 'B', initScripts: [INSTRUMENT_RESOURCES, HOLD_INIT] });
  await dumpOnFailure([a, b], async () => {
    for (const p of [a, b]) {
      const order = await p.page.evaluate(() => [...window.__order]);
      assert.ok(order.indexOf('init-held') >= 0 && order.indexOf('room-socket') > order.indexOf('init-held'), `${p.label}: ${order}`);
      assert.ok(order.indexOf('room-socket') < order.indexOf('init-posted'), `${p.label}: the room socket was made while init waited: ${order}`);
      assert.ok(order.indexOf('send:join') > order.indexOf('init-posted'), `${p.label}: nothing sent before the worker's init: ${order}`);
      assert.equal(order.filter((x) => x === 'room-socket').length, 1, `${p.label}: the early socket is the room socket (no second one): ${order}`);
      assert.equal(order.find((x) => x.startsWith('send:')), 'send:join', `${p.label}: join first: ${order}`);
    }
    const stats = await waitInPage(b.page, mediaStats, (s) => firstRemote(s).framesDecoded >= 10, { timeoutMs: 30_000 });
    assert.ok(firstRemote(stats).framesDecoded >= 10, `B decodes A: ${JSON.stringify(stats)}`);
    const pcs = await a.page.evaluate(() => window.__resources.pcs.map((pc) => ({ pool: pc.getConfiguration().iceCandidatePoolSize, state: pc.connectionState })));
    assert.deepEqual(pcs, [{ pool: 1, state: 'connected' }], 'A\'s one connection is the spare it made when B was admitted');
    const running = await a.page.evaluate(() => window.__leftRunning());
    assert.equal(running.timers.length, 1, `the spare's timer went with it: ${JSON.stringify(running)}`);
  });
  await a.context.close();
  await b.context.close();
});

test('no TURN configured: the credentials request answers 204 (no failed request in the console), a default call works, relay-only fails with turn-unavailable', async () => {
  const a = await openParticipant(browser, `${worker.origin}/`, { label: 'A(default)' });
  const b = await openParticipant(browser, a.page.url(), { label: 'B(default)' });
  const c = await openParticipant(browser, a.page.url(), { label: 'C(relay)', options: { privacy: 'relay' } });
  await dumpOnFailure([a, b, c], async () => {
    const stats = await waitInPage(b.page, mediaStats, (s) => firstRemote(s).framesDecoded >= 10, { timeoutMs: 30_000 });
    assert.ok(firstRemote(stats).framesDecoded >= 10, `B decodes A without TURN: ${JSON.stringify(stats)}`);
    for (const p of [a, b]) {
      const asked = await p.page.evaluate(() => performance.getEntriesByType('resource')
        .filter((e) => e.name.endsWith('/api/turn-credentials')).map((e) => e.responseStatus));
      assert.deepEqual(asked, [204], `${p.label} asked for TURN credentials once and got 204`);
      assert.deepEqual(p.console.filter((l) => /Failed to load resource|turn-credentials/i.test(l)), [], `${p.label}: no failed request in the console`);
    }
    const shown = await waitInPage(c.page, () => document.querySelector('#error:not([hidden])')?.dataset.code ?? null, (code) => code !== null, { timeoutMs: 20_000 });
    assert.equal(shown, 'turn-unavailable', `relay-only without TURN: ${c.console.join('\n')}`);
    assert.equal(await c.page.evaluate(() => window.sotto?.call?.roomId ?? null), null, 'C did not join');
  });
  for (const p of [a, b, c]) await p.context.close();
});
