// The devices a call sends (issue 15 item 2): the demo's lobby choices reach <sotto-call>, and
// a camera whose pictures cannot be sent is said, not silently sent as nothing. Chromium with
// three fake cameras (lib/cameras.mjs): fake_device_1's frames have no pixel format an encoder
// takes (WebRTC encodes 0 frames from it, in plain RTCPeerConnection too).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startWorker, TEST_ASSETS } from './lib/worker.mjs';
import { launchChromiumWithCameras } from './lib/cameras.mjs';
import { waitInPage } from './lib/browser.mjs';
import { dumpOnFailure } from './lib/probes.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// The page as in the working tree (www/), with the client's test build (the e2e suite's pkg).
const assets = mkdtempSync(path.join(tmpdir(), 'sotto-devices-'));
let worker;
let browser;

before(async () => {
  cpSync(path.join(root, 'www'), assets, { recursive: true, filter: (src) => !src.startsWith(path.join(root, 'www/pkg')) });
  cpSync(path.join(TEST_ASSETS, 'pkg'), path.join(assets, 'pkg'), { recursive: true });
  worker = await startWorker({ assets });
  browser = await launchChromiumWithCameras(3);
});
after(async () => {
  await browser?.close();
  await worker?.stop();
  rmSync(assets, { recursive: true, force: true });
});

async function open(label) {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const page = await context.newPage();
  const console = [];
  page.on('console', (m) => console.push(`[${label}] ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console.push(`[${label}] pageerror: ${e.message}`));
  await page.goto(`${worker.origin}/`);
  await page.waitForFunction(() => window.sotto && !document.querySelector('#join').disabled, null, { timeout: 15_000 });
  return { page, context, console, label };
}

const devices = () => ({
  cameras: [...document.querySelector('#camera-select').options].map((o) => o.value).filter(Boolean),
  mics: [...document.querySelector('#mic-select').options].map((o) => o.value).filter(Boolean),
  preview: document.querySelector('#preview').videoWidth,
});

test('joining with the camera off: the element opens the lobby\'s camera (off) and microphone through camera-id and microphone-id', async () => {
  const p = await open('camera-off');
  await dumpOnFailure([p], async () => {
    const lobby = await waitInPage(p.page, devices, (d) => d.preview > 0 && d.cameras.length === 3 && d.mics.length >= 2, { timeoutMs: 15_000 });
    assert.equal(lobby.cameras.length, 3, JSON.stringify(lobby));
    const mic = lobby.mics.at(-1);
    await p.page.selectOption('#camera-select', lobby.cameras[2]);
    await p.page.selectOption('#mic-select', mic);
    await p.page.check('#start-camera-off');
    await waitInPage(p.page, () => document.querySelector('#preview-status').textContent, (t) => /camera will be off/.test(t), { timeoutMs: 10_000 });
    await p.page.click('#join');
    await waitInPage(p.page, () => document.querySelector('sotto-call').state, (s) => s === 'in-call' || s === 'failed', { timeoutMs: 30_000 });
    const sent = await p.page.evaluate(() => {
      const widget = document.querySelector('sotto-call');
      const stream = window.sotto.call.localStream;
      const video = stream.getVideoTracks()[0];
      return { state: widget.state, attributes: [widget.getAttribute('camera-id'), widget.getAttribute('microphone-id')], camera: video?.getSettings().deviceId, enabled: video?.enabled, mic: stream.getAudioTracks()[0]?.getSettings().deviceId };
    });
    assert.equal(sent.state, 'in-call');
    assert.deepEqual(sent.attributes, [lobby.cameras[2], mic]);
    assert.deepEqual([sent.camera, sent.enabled, sent.mic], [lobby.cameras[2], false, mic], 'the element opened the chosen camera (off) and microphone, not the defaults');
  });
  await p.context.close();
});

// A page that skips the lobby's check (its own camera-id): the element still says that the
// camera it joined with sends nothing.
test('the element warns when the camera it joins with gives pictures that cannot be sent', async () => {
  const p = await open('depth-camera');
  await dumpOnFailure([p], async () => {
    await p.page.evaluate(async () => {
      const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
      const widget = document.querySelector('sotto-call');
      widget.setAttribute('link', location.href);
      widget.setAttribute('camera-id', cameras[1].deviceId);
      document.querySelector('#lobby').hidden = true;
      document.querySelector('#call').hidden = false;
      await widget.join();
    });
    const banner = await waitInPage(p.page, () => {
      const b = document.querySelector('sotto-call').shadowRoot.querySelector('[part=banner]');
      return b.hidden ? '' : b.textContent;
    }, (t) => /cannot send/.test(t), { timeoutMs: 10_000 });
    assert.match(banner, /^fake_device_1 gives pictures this browser cannot send: the others will not see you/);
    assert.equal(await p.page.evaluate(() => window.sotto.call.localStream.getVideoTracks()[0].label), 'fake_device_1');
    // A camera that can be sent gets no such banner.
    assert.equal(await p.page.evaluate(async () => {
      const { canSendVideo } = await import('./pkg/sotto-call-element.js');
      const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
      const results = [];
      for (const camera of cameras) {
        const [track] = (await navigator.mediaDevices.getUserMedia({ video: { deviceId: { exact: camera.deviceId } } })).getVideoTracks();
        results.push(await canSendVideo(track));
        track.stop();
      }
      return results.join(' ');
    }), 'true false true', 'canSendVideo: fake cameras 0 and 2 yes, 1 no');
  });
  await p.context.close();
});
