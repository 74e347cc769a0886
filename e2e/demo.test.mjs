// The demo app at / (issue 15 items 2, 4, 6) in real headless Chromium against the real local
// worker, built on <sotto-call>: create a room (fresh secret in the fragment), copy it, its QR
// code, the lobby (camera preview, device pickers, name), a two-party call with names, the
// safety code compared and marked verified, chat, a four-party grid, failure states (no
// Encoded Transform; camera and microphone blocked, then joining without them), 360 px wide,
// axe-core on each state. Screenshots of each state go to target/e2e-artifacts/demo/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startWorker, TEST_ASSETS } from './lib/worker.mjs';
import { launchChromiumWithCameras } from './lib/cameras.mjs';
import { openParticipant, waitInPage } from './lib/browser.mjs';
import { dumpOnFailure } from './lib/probes.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ARTIFACTS = path.join(root, 'target/e2e-artifacts/demo');
const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');

// The page as in the working tree (www/), with the client's test build (the e2e suite's pkg).
const assets = mkdtempSync(path.join(tmpdir(), 'sotto-demo-'));
let worker;
let browser;
const opened = [];

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  cpSync(path.join(root, 'www'), assets, { recursive: true, filter: (src) => !src.startsWith(path.join(root, 'www/pkg')) });
  cpSync(path.join(TEST_ASSETS, 'pkg'), path.join(assets, 'pkg'), { recursive: true });
  // axe-core served from the page's origin: the demo's CSP refuses inline scripts.
  cpSync(AXE, path.join(assets, 'axe.min.js'));
  worker = await startWorker({ assets });
  browser = await launchChromiumWithCameras(3);
});

after(async () => {
  for (const p of opened) await p.context.close().catch(() => {});
  await browser?.close();
  await worker?.stop();
  rmSync(assets, { recursive: true, force: true });
});

const shot = (page, name, options = {}) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), ...options });

async function axeCheck(page, name) {
  await page.addScriptTag({ url: '/axe.min.js' });
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  writeFileSync(path.join(ARTIFACTS, `axe-${name}.json`), JSON.stringify(result, null, 2));
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `axe (${name}): serious or critical violations`);
  return result;
}

async function open(url, label, { viewport = { width: 1280, height: 900 }, initScripts = [], permissions = ['camera', 'microphone'] } = {}) {
  const context = await browser.newContext({ permissions, viewport });
  for (const script of initScripts) await context.addInitScript(script);
  const page = await context.newPage();
  const log = [];
  page.on('console', (m) => log.push(`[${label}] ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[${label}] pageerror: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(() => window.sotto && document.querySelector('#join') && !document.querySelector('#join').disabled, null, { timeout: 15_000 });
  const p = { page, context, console: log, label };
  opened.push(p);
  return p;
}

/** From the lobby: a name, then Join; waits until the element is in the call. */
async function join(p, name) {
  if (name) await p.page.fill('#display-name', name);
  await p.page.click('#join');
  const state = () => {
    const shadow = document.querySelector('sotto-call').shadowRoot;
    return { roomId: window.sotto.call?.roomId ?? null, error: document.querySelector('#error:not([hidden])')?.textContent ?? null, element: document.querySelector('sotto-call').state, status: shadow.querySelector('[part=status]').textContent, lobby: !document.querySelector('#lobby').hidden };
  };
  const joined = await waitInPage(p.page, state, (s) => s.roomId || s.error, { timeoutMs: 30_000 });
  assert.ok(joined.roomId && joined.error === null, `${p.label} joined: ${JSON.stringify(joined)}`);
}

const widgetState = () => document.querySelector('sotto-call').state;
// What the element shows: tiles with their names and marks, the safety words, the failure.
const tiles = () => [...document.querySelector('sotto-call').shadowRoot.querySelectorAll('li.tile')].map((li) => {
  const video = li.querySelector('video');
  return {
    peer: li.dataset.peer,
    name: li.querySelector('[part=name]').textContent,
    muted: !li.querySelector('[part=muted]').hidden,
    verified: !li.querySelector('.ok').hidden,
    width: video.videoWidth,
    visible: li.getBoundingClientRect().width > 0,
  };
});
const words = () => document.querySelector('sotto-call').shadowRoot.querySelector('[part=safety-words]').textContent;
const failure = () => {
  const f = document.querySelector('sotto-call').shadowRoot.querySelector('[part=failure]');
  return { hidden: f.hidden, code: f.dataset.code, text: f.textContent, buttons: [...f.querySelectorAll('button')].filter((b) => !b.hidden).map((b) => b.textContent) };
};
const overflow = () => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth });

test('the QR library is the pinned npm package, byte for byte', () => {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  assert.match(pkg.devDependencies['lean-qr'], /^\d+\.\d+\.\d+$/, 'pinned to one version');
  const installed = JSON.parse(readFileSync(path.join(root, 'node_modules/lean-qr/package.json'), 'utf8')).version;
  assert.equal(installed, pkg.devDependencies['lean-qr']);
  const vendored = readFileSync(path.join(root, 'www/vendor/lean-qr-nano.js'));
  const fromNpm = readFileSync(path.join(root, 'node_modules/lean-qr/nano.mjs'));
  assert.ok(vendored.equals(fromNpm), 'www/vendor/lean-qr-nano.js is lean-qr\'s nano.mjs (copy it again after an upgrade)');
});

test('the demo: room, QR, lobby, two-party call, safety code verified, chat, four-party grid, 360 px, axe', async () => {
  // Create a room: a fresh 43-character secret in the fragment, shown as the link.
  const a = await open(`${worker.origin}/`, 'A');
  await dumpOnFailure(opened, async () => {
    const link = await a.page.evaluate(() => ({ href: location.href, shown: document.querySelector('#room-link').value }));
    assert.match(link.href, new RegExp(`^${worker.origin}/#[A-Za-z0-9_-]{43}$`), 'a fresh secret in the fragment');
    assert.equal(link.shown, link.href, 'the lobby shows the link');
    // New room: another secret.
    await a.page.click('#new-room');
    const fresh = await a.page.evaluate(() => location.href);
    assert.notEqual(fresh, link.href, 'New room makes another link');
    assert.equal(await a.page.evaluate(() => document.querySelector('#room-link').value), fresh);
    // Copy: the clipboard holds the link.
    await a.context.grantPermissions(['camera', 'microphone', 'clipboard-read', 'clipboard-write'], { origin: worker.origin });
    await a.page.click('#copy-link');
    assert.equal(await a.page.evaluate(() => navigator.clipboard.readText()), fresh, 'Copy link puts the link on the clipboard');
    assert.match(await a.page.textContent('#copy-status'), /copied/);
    // QR code: an SVG of the link, keyboard-operable toggle.
    await a.page.focus('#show-qr');
    await a.page.keyboard.press('Enter');
    const qr = await a.page.evaluate(() => {
      const svg = document.querySelector('#qr-code svg');
      return { shown: !document.querySelector('#qr').hidden, expanded: document.querySelector('#show-qr').getAttribute('aria-expanded'), modules: Number(svg?.dataset.modules), label: svg?.getAttribute('aria-label'), dark: (svg?.querySelector('path').getAttribute('d').match(/M/g) ?? []).length };
    });
    assert.deepEqual([qr.shown, qr.expanded, qr.label], [true, 'true', 'QR code of the room link']);
    assert.ok(qr.modules >= 29 && (qr.modules - 17) % 4 === 0, `a QR symbol of a valid size (${qr.modules} modules)`);
    assert.ok(qr.dark > qr.modules * qr.modules * 0.3 && qr.dark < qr.modules * qr.modules * 0.7, `about half the modules dark (${qr.dark})`);

    // The lobby: camera preview running, both fake cameras and a microphone listed.
    const lobby = await waitInPage(a.page, () => ({
      preview: document.querySelector('#preview').videoWidth,
      cameras: [...document.querySelector('#camera-select').options].map((o) => o.value).filter(Boolean),
      mics: [...document.querySelector('#mic-select').options].map((o) => o.value).filter(Boolean),
    }), (l) => l.preview > 0 && l.cameras.length >= 2, { timeoutMs: 15_000 });
    assert.ok(lobby.preview > 0, 'the camera preview plays');
    assert.ok(lobby.cameras.length >= 3 && lobby.mics.length >= 2, `device pickers: ${JSON.stringify(lobby)}`);
    const previewDevice = () => document.querySelector('#preview').srcObject?.getVideoTracks()[0]?.getSettings().deviceId;
    // The second fake camera gives pictures no encoder takes (a call would send no video from
    // it to anyone: 0 frames encoded): the lobby says so, greys it out and shows another one.
    await a.page.selectOption('#camera-select', lobby.cameras[1]);
    const refused = await waitInPage(a.page, () => ({
      status: document.querySelector('#preview-status').textContent,
      option: [...document.querySelector('#camera-select').options].filter((o) => o.disabled).map((o) => o.value),
      chosen: document.querySelector('#camera-select').value,
    }), (r) => /cannot send/.test(r.status), { timeoutMs: 10_000 });
    assert.match(refused.status, /fake_device_1 gives pictures this browser cannot send in a call .*: using fake_device_0 instead/);
    assert.deepEqual(refused.option, [lobby.cameras[1]], 'the camera that cannot be sent is greyed out');
    assert.equal(await waitInPage(a.page, previewDevice, (d) => d === lobby.cameras[0], { timeoutMs: 10_000 }), lobby.cameras[0], 'the preview shows a camera that can be sent');
    assert.equal(refused.chosen, lobby.cameras[0]);
    // The third camera and the last microphone: the preview switches to them, and the call will
    // use what the preview shows.
    await a.page.selectOption('#camera-select', lobby.cameras[2]);
    assert.equal(await waitInPage(a.page, previewDevice, (d) => d === lobby.cameras[2], { timeoutMs: 10_000 }), lobby.cameras[2], 'the preview uses the chosen camera');
    const mic = lobby.mics.at(-1);
    await a.page.selectOption('#mic-select', mic);
    await waitInPage(a.page, () => document.querySelector('#preview').srcObject?.getAudioTracks()[0]?.getSettings().deviceId, (d) => d === mic, { timeoutMs: 10_000 });
    assert.equal(await a.page.inputValue('#camera-select'), lobby.cameras[2]);
    await a.page.fill('#display-name', 'Ada');
    // Visible focus on the lobby's controls (keyboard).
    await a.page.focus('#display-name');
    await a.page.keyboard.press('Tab');
    const focused = await a.page.evaluate(() => ({ id: document.activeElement.id, outline: getComputedStyle(document.activeElement).outlineStyle }));
    assert.equal(focused.id, 'relay-only');
    assert.notEqual(focused.outline, 'none', 'the focus is visible');
    await shot(a.page, 'lobby', { fullPage: true });
    await axeCheck(a.page, 'lobby');

    // Two-party call. A joins with the chosen devices (the preview's own tracks); B with the link.
    const previewTracks = await a.page.evaluate(() => document.querySelector('#preview').srcObject.getTracks().map((t) => t.id).sort());
    await join(a);
    const b = await open(fresh, 'B');
    await join(b, 'Grace');
    const two = await Promise.all([a, b].map((p) => waitInPage(p.page, tiles, (t) => t.length === 2 && t.every((x) => x.width > 0) && !t[1].name.startsWith('Guest'), { timeoutMs: 30_000 })));
    assert.deepEqual(two[0].map((t) => t.name), ['You', 'Grace'], 'A sees Grace by name (sent sealed)');
    assert.deepEqual(two[1].map((t) => t.name), ['You', 'Ada'], 'B sees Ada by name');
    assert.ok(two.every((t) => t.every((x) => x.width > 0)), `every tile shows video: ${JSON.stringify(two)}`);
    const sent = await a.page.evaluate(() => {
      const stream = window.sotto.call.localStream;
      return { camera: stream.getVideoTracks()[0].getSettings().deviceId, mic: stream.getAudioTracks()[0].getSettings().deviceId, tracks: stream.getTracks().map((t) => t.id).sort() };
    });
    assert.deepEqual([sent.camera, sent.mic], [lobby.cameras[2], mic], 'A sends the camera and microphone chosen in the lobby');
    assert.deepEqual(sent.tracks, previewTracks, 'the call took the lobby\'s preview tracks (no second getUserMedia, no switch after joining)');
    assert.match(await waitInPage(a.page, () => document.querySelector('#status').textContent, (s) => /end-to-end encrypted/.test(s)), /Connected, end-to-end encrypted/);
    const line = await waitInPage(a.page, () => document.querySelector('#people-list').textContent, (t) => /Grace — connected, receiving [\d.]+ (k|M)bit\/s \(\d+ fps\)/.test(t), { timeoutMs: 10_000 });
    assert.match(line, /Grace — connected, receiving [\d.]+ (k|M)bit\/s \(\d+ fps\)/, 'who is in the call, with what arrives from them');
    // An error the call recovers from by itself (a failed negotiation is retried) is said with
    // the name, and goes once media from that participant arrives again (it stayed all call).
    await a.page.evaluate(() => {
      const [peer] = window.sotto.call.participants.keys();
      const error = Object.assign(new Error('a WebRTC operation on a peer connection failed'), { code: 'negotiation-failed', peer });
      document.querySelector('sotto-call').dispatchEvent(new CustomEvent('error', { detail: error }));
    });
    assert.match(await a.page.textContent('#error'), /^Grace: a WebRTC operation .*\(negotiation-failed\)$/);
    assert.equal(await waitInPage(a.page, () => document.querySelector('#error').hidden, Boolean, { timeoutMs: 10_000 }), true, 'the recovered error goes once Grace\'s media arrives');
    await shot(a.page, 'two-party', { fullPage: true });
    // An element taller than its content (a page giving it a height) keeps its controls at the
    // bottom, under the tiles, not floating half-way with empty space below.
    const gap = await a.page.evaluate(async () => {
      const widget = document.querySelector('sotto-call');
      widget.style.height = `${widget.getBoundingClientRect().height + 300}px`;
      await new Promise(requestAnimationFrame);
      const shadow = widget.shadowRoot;
      const bottom = shadow.querySelector('[part=root]').getBoundingClientRect().bottom;
      const controls = shadow.querySelector('[part=controls]').getBoundingClientRect().bottom;
      const status = shadow.querySelector('[part=status]').getBoundingClientRect().height;
      widget.style.height = '';
      return bottom - controls - status;
    });
    assert.ok(gap < 40, `the controls sit at the bottom of a tall element (${gap} px below them)`);
    await axeCheck(a.page, 'two-party');

    // The safety code: same five words on both sides, shown in the element; the fingerprint.
    const w = await Promise.all([a, b].map((p) => waitInPage(p.page, words, (t) => t.split(' ').length === 5, { timeoutMs: 20_000 })));
    assert.equal(w[0], w[1], 'both show the same five words');
    const code = await a.page.evaluate(() => window.sotto.call.safetyCode());
    assert.equal(w[0], code.words.join(' '));
    assert.equal((await a.page.inputValue('#safety-hex')).replace(/\s/g, ''), code.hex, 'the full fingerprint is there to compare');
    // A compared the words with Grace and marks her verified, with the keyboard.
    const box = a.page.locator('sotto-call input[type=checkbox]');
    await box.focus();
    await a.page.keyboard.press('Space');
    const verified = await waitInPage(a.page, tiles, (t) => t[1]?.verified, { timeoutMs: 5000 });
    assert.equal(verified[1].verified, true, 'Grace\'s tile says Verified');
    assert.equal(await a.page.evaluate(() => [...window.sotto.call.participants.values()][0].verified), true);
    assert.match(await a.page.textContent('#people-list'), /Grace — connected, receiving .*, verified ✔/);
    await a.page.click('#fingerprint summary');
    await shot(a.page, 'safety-verified', { fullPage: true });
    await axeCheck(a.page, 'safety-verified');

    // Chat: A opens it and sends; B opens it and reads it under A's name.
    await a.page.locator('sotto-call [part~=control-chat]').click();
    await a.page.keyboard.type('hello from Ada');
    await a.page.keyboard.press('Enter');
    await b.page.locator('sotto-call [part~=control-chat]').click();
    const log = await waitInPage(b.page, () => document.querySelector('sotto-call').shadowRoot.querySelector('[part=chat-log]').textContent, (t) => t.includes('hello from Ada'), { timeoutMs: 10_000 });
    assert.equal(log, 'Ada: hello from Ada');
    await b.page.fill('sotto-call input[aria-label=Message]', 'hi Ada');
    await b.page.keyboard.press('Enter');
    assert.match(await waitInPage(a.page, () => document.querySelector('sotto-call').shadowRoot.querySelector('[part=chat-log]').textContent, (t) => t.includes('hi Ada')), /You: hello from AdaGrace: hi Ada/);
    await shot(b.page, 'chat-open', { fullPage: true });
    await axeCheck(b.page, 'chat-open');

    // Four-party grid: C and D join; everyone has four named tiles; A warned that an
    // unverified person joined a verified call.
    const c = await open(fresh, 'C');
    await join(c, 'Hedy');
    const d = await open(fresh, 'D');
    await join(d, 'Katherine');
    const four = await waitInPage(a.page, tiles, (t) => t.length === 4 && t.every((x) => x.width > 0 && !x.name.startsWith('Guest')), { timeoutMs: 45_000 });
    assert.deepEqual(four.map((t) => t.name).sort(), ['Grace', 'Hedy', 'Katherine', 'You']);
    assert.ok(four.every((t) => t.width > 0), `every tile shows video: ${JSON.stringify(four)}`);
    assert.equal(four.find((t) => t.name === 'Grace').verified, true, 'Grace stays verified');
    assert.match(await waitInPage(a.page, () => document.querySelector('#verify-warning').textContent, (t) => /^(Hedy|Katherine) joined and is not verified/.test(t), { timeoutMs: 10_000 }), /^(Hedy|Katherine) joined and is not verified/, 'A is warned, by name');
    // Once: the page's warning, not the element's banner too; and no 'Guest abcd' left once
    // the names arrived (the element's status line follows the name).
    const warnings = await a.page.evaluate(() => {
      const shadow = document.querySelector('sotto-call').shadowRoot;
      const shown = [document.querySelector('#verify-warning'), shadow.querySelector('[part=banner]')].filter((e) => !e.hidden && e.getClientRects().length > 0);
      return { verifyTexts: shown.map((e) => e.textContent).filter((t) => /not verified|different (identity )?key/.test(t)), status: shadow.querySelector('[part=status]').textContent };
    });
    assert.equal(warnings.verifyTexts.length, 1, `the unverified-joined warning is shown once: ${JSON.stringify(warnings.verifyTexts)}`);
    const above = await a.page.evaluate(() => document.querySelector('#verify-warning').getBoundingClientRect().bottom <= document.querySelector('sotto-call').getBoundingClientRect().top);
    assert.ok(above, 'the warning is above the call, where it is seen (not under the grid and the controls)');
    assert.doesNotMatch((await waitInPage(a.page, () => document.querySelector('sotto-call').shadowRoot.querySelector('[part=status]').textContent, (t) => !/Guest /.test(t), { timeoutMs: 10_000 })), /Guest /, 'the element names who joined');
    for (const p of [b, c, d]) assert.equal((await waitInPage(p.page, tiles, (t) => t.length === 4, { timeoutMs: 30_000 })).length, 4, `${p.label} has four tiles`);
    await waitInPage(a.page, words, (t) => t.split(' ').length === 5, { timeoutMs: 20_000 });
    // Mute: A's own tile says so.
    await a.page.locator('sotto-call [part~=control-mic]').click();
    assert.equal((await a.page.evaluate(tiles))[0].muted, true, 'A\'s tile shows Muted');
    await a.page.evaluate(() => window.scrollTo(0, 0));
    await shot(a.page, 'four-party', { fullPage: true });
    await axeCheck(a.page, 'four-party');

    // Phone width: nothing wider than the screen, every control reachable.
    await a.page.setViewportSize({ width: 360, height: 780 });
    await a.page.waitForTimeout(300);
    const phone = await a.page.evaluate(overflow);
    assert.ok(phone.scroll <= 360, `no horizontal scrolling at 360 px: ${JSON.stringify(phone)}`);
    const controls = await a.page.evaluate(() => [...document.querySelector('sotto-call').shadowRoot.querySelectorAll('[part~=control]')].filter((b) => !b.hidden).map((b) => {
      const r = b.getBoundingClientRect();
      return { text: b.textContent, left: r.left, right: r.right, height: r.height };
    }));
    assert.ok(controls.length >= 4 && controls.every((x) => x.left >= 0 && x.right <= 360 && x.height >= 40), `controls fit and are big enough: ${JSON.stringify(controls)}`);
    // Two tiles abreast on a phone (four people above the controls, not one long column), and
    // no 'Click anywhere to hear' where the browser lets the call play (a play() cut short by
    // the resize is no autoplay refusal).
    const columns = await a.page.evaluate(() => new Set([...document.querySelector('sotto-call').shadowRoot.querySelectorAll('li.tile')].map((li) => Math.round(li.getBoundingClientRect().left))).size);
    assert.equal(columns, 2, 'tiles two abreast at 360 px');
    assert.doesNotMatch(await a.page.evaluate(() => document.querySelector('sotto-call').shadowRoot.querySelector('[part=status]').textContent), /Click anywhere/);
    await shot(a.page, 'phone-call', { fullPage: true });
    await axeCheck(a.page, 'phone-call');

    // Hang up: back in the lobby with the preview running again; the others see A leave.
    await a.page.setViewportSize({ width: 1280, height: 900 });
    await a.page.locator('sotto-call [part~=control-leave]').click();
    await waitInPage(a.page, () => !document.querySelector('#lobby').hidden && document.querySelector('#preview').videoWidth > 0, Boolean, { timeoutMs: 10_000 });
    assert.equal(await a.page.evaluate(widgetState), 'left');
    assert.equal(await a.page.evaluate(() => window.sotto.call), null);
    assert.equal((await waitInPage(b.page, tiles, (t) => t.length === 3, { timeoutMs: 30_000 })).length, 3, 'B sees A leave');
    console.log(`demo: room ${fresh.length - worker.origin.length - 2} chars of secret, QR ${qr.modules}x${qr.modules}; 2 then 4 named tiles with video; words "${w[0]}" equal; verified by keyboard; chat both ways; 360 px: ${phone.scroll} px wide, ${controls.length} controls`);
  });
});

test('the demo at 360 px: the lobby fits', async () => {
  const p = await open(`${worker.origin}/`, 'phone', { viewport: { width: 360, height: 780 } });
  await waitInPage(p.page, () => document.querySelector('#preview').videoWidth, (w) => w > 0, { timeoutMs: 15_000 });
  const o = await p.page.evaluate(overflow);
  assert.ok(o.scroll <= 360, `no horizontal scrolling: ${JSON.stringify(o)}`);
  const join = await p.page.evaluate(() => document.querySelector('#join').getBoundingClientRect().width);
  assert.ok(join > 250, 'the Join button spans the card');
  await p.page.click('#show-qr');
  await shot(p.page, 'phone-lobby', { fullPage: true });
  await axeCheck(p.page, 'phone-lobby');
  await p.context.close();
});

test('the demo\'s failure states: no Encoded Transform; camera and microphone blocked, then joining without them', async () => {
  // No frame-transform API: refused, explained, no way around it, no call.
  const none = await open(`${worker.origin}/`, 'no-transform', {
    initScripts: [() => {
      delete window.RTCRtpScriptTransform;
      delete RTCRtpSender.prototype.createEncodedStreams;
      delete RTCRtpReceiver.prototype.createEncodedStreams;
    }],
  });
  await dumpOnFailure([none], async () => {
    await none.page.click('#join');
    await waitInPage(none.page, widgetState, (s) => s === 'failed');
    const f = await none.page.evaluate(failure);
    assert.equal(f.code, 'e2ee-unsupported');
    assert.match(f.text, /This browser cannot encrypt the call/);
    assert.deepEqual(f.buttons, [], 'no way around encryption is offered');
    assert.equal(await none.page.evaluate(() => document.querySelector('#error').dataset.code), 'e2ee-unsupported');
    assert.equal(await none.page.evaluate(() => window.sotto.call), null);
    await shot(none.page, 'error-no-encoded-transform');
    await axeCheck(none.page, 'error-no-encoded-transform');
  });
  await none.context.close();

  // Camera and microphone blocked: the lobby says so, the join says so with two ways on.
  const denied = await open(`${worker.origin}/`, 'denied', {
    initScripts: [() => { MediaDevices.prototype.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError')); }],
  });
  await dumpOnFailure([denied], async () => {
    assert.match(await waitInPage(denied.page, () => document.querySelector('#preview-status').textContent, (t) => /blocked/.test(t)), /Camera and microphone are blocked/);
    // The pickers list what the browser lets the page see, or say there is nothing (they were
    // left empty: two blank boxes).
    const pickers = await waitInPage(denied.page, () => ['#camera-select', '#mic-select'].map((id) => document.querySelector(id).selectedOptions[0]?.textContent ?? ''), (x) => x.every(Boolean), { timeoutMs: 5000 });
    assert.ok(pickers.every(Boolean), `the pickers are not blank: ${JSON.stringify(pickers)}`);
    await shot(denied.page, 'error-lobby-media-blocked');
    await denied.page.click('#join');
    await waitInPage(denied.page, widgetState, (s) => s === 'failed');
    const f = await denied.page.evaluate(failure);
    assert.equal(f.code, 'media-denied');
    assert.match(f.text, /Camera and microphone are blocked/);
    assert.deepEqual(f.buttons, ['Try again', 'Join without camera and microphone']);
    assert.equal(await denied.page.evaluate(() => document.querySelector('#error').dataset.code), 'media-denied');
    assert.equal(await denied.page.isVisible('#back'), true, 'a way back to the lobby');
    await shot(denied.page, 'error-media-denied');
    await axeCheck(denied.page, 'error-media-denied');
    await denied.page.getByRole('button', { name: 'Join without camera and microphone' }).click();
    await waitInPage(denied.page, widgetState, (s) => s !== 'joining');
    assert.equal(await denied.page.evaluate(widgetState), 'in-call', 'joined to see and hear the others');
    assert.equal(await denied.page.isVisible('#error'), false, 'the error went with the retry');
  });
  await denied.context.close();
});

// The demo the rest of the suite drives (openParticipant) still works the old way too.
test('openParticipant joins the demo (the hooks the other e2e files use)', async () => {
  const p = await openParticipant(browser, `${worker.origin}/`, { label: 'hooks' });
  opened.push(p);
  assert.ok(await p.page.evaluate(() => window.sotto.call.roomId), 'window.sotto.call');
  const logged = await waitInPage(p.page, () => window.sotto.events.map((e) => e.type), (t) => t.includes('key-epoch'), { timeoutMs: 10_000 });
  assert.ok(logged.includes('key-epoch'), `window.sotto.events logs the call's events: ${logged}`);
  await p.context.close();
});
