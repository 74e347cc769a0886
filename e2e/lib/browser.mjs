// Debian's Chromium driven by playwright-core, with fake media and loopback-only WebRTC.
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium';

export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

/** Opens the demo at `url` in a fresh context, clicks Join, and waits until the call is up. */
export async function openParticipant(browser, url, { label } = {}) {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const page = await context.newPage();
  const console = [];
  page.on('console', (m) => console.push(`[${label}] ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console.push(`[${label}] pageerror: ${e.message}`));
  await page.goto(url);
  await page.click('#join');
  await page.waitForFunction(() => window.sotto?.call?.roomId || document.querySelector('#error:not([hidden])'), null, { timeout: 20_000 });
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
