// The fixture most e2e files share: the real signaling worker on local workerd and one
// headless Chromium, started before a file's tests and stopped after them.
import { after, before } from 'node:test';
import { startWorker } from './worker.mjs';
import { launchChromium } from './browser.mjs';

/** Returns `{ worker, browser }`, filled in before the first test. `skip` starts nothing. */
export function workerAndChromium({ skip = false } = {}) {
  const env = { worker: null, browser: null };
  before(async () => {
    if (skip) return;
    env.worker = await startWorker();
    env.browser = await launchChromium();
  });
  after(async () => {
    await env.browser?.close();
    await env.worker?.stop();
  });
  return env;
}
