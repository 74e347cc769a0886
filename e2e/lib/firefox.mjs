// Debian's firefox-esr driven headless by puppeteer-core over WebDriver BiDi (no geckodriver),
// with fake media and loopback-only WebRTC: ../shared/notes/headless-firefox.md has how these
// prefs were found. A participant opened here has the same shape as browser.mjs's
// `openParticipant` ({ page, context, console, label }), so waitInPage and the probes work on
// both browsers (they only use `page.evaluate` and `page.url()`).
import { existsSync } from 'node:fs';
import puppeteer from 'puppeteer-core';

export const FIREFOX = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

const FIREFOX_PREFS = {
  'media.navigator.streams.fake': true, // fake camera and microphone
  'media.peerconnection.ice.loopback': true, // gather 127.0.0.1 candidates
  // Without a stored permission Firefox gathers only the default route's address: none in a
  // loopback-only namespace, so ICE would fail at once.
  'permissions.default.camera': 1,
  'permissions.default.microphone': 1,
  'media.autoplay.default': 0, // remote video plays without a gesture
};

export function launchFirefox() {
  if (!existsSync(FIREFOX)) throw new Error(`${FIREFOX} is missing: \`make setup\` installs Debian's firefox-esr (or set FIREFOX_PATH)`);
  return puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX, headless: true, extraPrefsFirefox: FIREFOX_PREFS });
}

/** The browser's name and version as the page sees them (e.g. 'Firefox 153.0'). */
export async function browserVersion(page) {
  return page.evaluate(() => {
    const ua = navigator.userAgent;
    const m = ua.match(/(Firefox|Chrome)\/([\d.]+)/);
    return m ? `${m[1] === 'Chrome' ? 'Chromium' : m[1]} ${m[2]}` : ua;
  });
}

/**
 * browser.mjs's `openParticipant` for Firefox: a fresh browser context, `initScripts` and
 * `options` (joinCall options through `window.sottoTestOptions`) before the page's scripts,
 * then Join, waiting until the call is up or the page shows an error.
 */
export async function openFirefoxParticipant(browser, url, { label, initScripts = [], join = true, options } = {}) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  if (options) await page.evaluateOnNewDocument((o) => { window.sottoTestOptions = o; }, options);
  for (const script of initScripts) await page.evaluateOnNewDocument(script);
  const console = [];
  page.on('console', (m) => console.push(`[${label}] ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console.push(`[${label}] pageerror: ${e.message}`));
  await page.goto(url);
  if (join) {
    await page.click('#join');
    await page.waitForFunction(() => window.sotto?.call?.roomId || document.querySelector('#error:not([hidden])'), { timeout: 20_000 });
  }
  return { page, context, console, label };
}
