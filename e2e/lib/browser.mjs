// Debian's Chromium driven by playwright-core, with fake media and loopback-only WebRTC.
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium';

// Two fake cameras (for switchDevice) and an automatically accepted fake screen (for
// getDisplayMedia) besides the usual fake media and loopback ICE.
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream=device-count=2', '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
];

export function launchChromium() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/**
 * A browser in its own process group, for faults done to the process itself (SIGSTOP to
 * make a participant vanish without closing anything). `freeze()`/`kill()` act on the group.
 */
export async function launchChromiumProcess() {
  const server = await chromium.launchServer({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const browser = await chromium.connect(server.wsEndpoint());
  const pid = server.process().pid;
  const signal = (name) => { try { process.kill(-pid, name); } catch { process.kill(pid, name); } };
  return {
    browser,
    freeze: () => signal('SIGSTOP'),
    thaw: () => signal('SIGCONT'),
    async kill() {
      signal('SIGKILL');
      await server.close().catch(() => {});
    },
  };
}

/**
 * Test-only instrumentation, installed before any page script runs: remembers every
 * RTCPeerConnection, WebSocket and Worker the page makes, and every timer the Sotto module
 * sets, so a test can check what is still running after `close()`.
 */
export const INSTRUMENT_RESOURCES = () => {
  const record = { pcs: [], sockets: [], workers: [], timers: new Map() };
  window.__resources = record;
  const wrapClass = (name, list) => {
    const Original = window[name];
    if (!Original) return;
    window[name] = class extends Original {
      constructor(...args) { super(...args); list.push(this); }
    };
  };
  wrapClass('RTCPeerConnection', record.pcs);
  wrapClass('WebSocket', record.sockets);
  wrapClass('Worker', record.workers);
  const terminate = Worker.prototype.terminate;
  Worker.prototype.terminate = function () { this.__terminated = true; return terminate.call(this); };
  const fromSotto = () => /\/sotto\.js/.test(new Error().stack ?? '');
  for (const [set, clear, repeats] of [['setTimeout', 'clearTimeout', false], ['setInterval', 'clearInterval', true]]) {
    const originalSet = window[set];
    const originalClear = window[clear];
    window[set] = function (fn, ms, ...rest) {
      if (!fromSotto() || typeof fn !== 'function') return originalSet.call(window, fn, ms, ...rest);
      const id = originalSet.call(window, (...a) => { if (!repeats) record.timers.delete(id); return fn(...a); }, ms, ...rest);
      record.timers.set(id, { kind: set, ms });
      return id;
    };
    window[clear] = function (id) { record.timers.delete(id); return originalClear.call(window, id); };
  }
  window.__leftRunning = () => ({
    peerConnections: record.pcs.filter((pc) => pc.signalingState !== 'closed').length,
    sockets: record.sockets.filter((s) => s.readyState === WebSocket.OPEN || s.readyState === WebSocket.CONNECTING).length,
    workers: record.workers.filter((w) => !w.__terminated).length,
    timers: [...record.timers.values()].map((t) => `${t.kind}(${t.ms})`),
    created: { peerConnections: record.pcs.length, sockets: record.sockets.length, workers: record.workers.length },
  });
};

/**
 * Opens the demo at `url` in a fresh context, clicks Join, and waits until the call is up
 * (or the page shows an error). `initScripts` run in the page before its own scripts;
 * `options` are extra `joinCall` options, which the test build of the client reads from
 * `window.sottoTestOptions` (the demo reads none from its URL).
 */
export async function openParticipant(browser, url, { label, initScripts = [], join = true, options } = {}) {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
  if (options) await context.addInitScript((o) => { window.sottoTestOptions = o; }, options);
  for (const script of initScripts) await context.addInitScript(script);
  const page = await context.newPage();
  const console = [];
  page.on('console', (m) => console.push(`[${label}] ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console.push(`[${label}] pageerror: ${e.message}`));
  await page.goto(url);
  if (join) {
    await page.click('#join');
    await page.waitForFunction(() => window.sotto?.call?.roomId || document.querySelector('#error:not([hidden])'), null, { timeout: 20_000 });
  }
  return { page, context, console, label };
}

/** Polls `fn` in the page until `predicate(value)` holds; returns the last value. */
export async function waitInPage(page, fn, predicate, { timeoutMs = 20_000, intervalMs = 200, arg } = {}) {
  const deadline = Date.now() + timeoutMs;
  let value;
  for (;;) {
    value = await page.evaluate(fn, arg);
    if (predicate(value)) return value;
    if (Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
