// An application developer's path: `npm pack` the client package, install the tarball into a
// tiny app, type-check it with tsc, build it with Vite, and make a call with it in Chromium.
// The app's code is the README's usage example, so the README cannot drift from the package.
// The tarball is also searched for the test build's hooks: none may ship.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startWorker } from './lib/worker.mjs';
import { startRecordingProxy } from './lib/proxy.mjs';
import { launchChromium } from './lib/browser.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => path.join(root, 'node_modules/.bin', name);
let work;
let worker;
let proxy;
let browser;
let tarballPath;

// Test hooks of the wasm bridge and of the JavaScript (see scripts/package-client.sh).
const TEST_HOOK_NAMES = ['exportKeysForTesting', 'installSenderKeyForTesting', 'testDecryptWith', 'testAttack', 'testCapture', 'testCaptured', 'testAudioSizes', 'sottoTestOptions', 'testUnsafeTransformOrder', 'testSealedLog', 'testCandidatesAdded', 'testPeerId'];
// Handling of a runtime `testing` flag: an option, a parameter, a property or a check.
const TESTING_FLAG = /\btesting\s*[:=,)]|\.testing\b|\(\s*testing\b|requireTesting|testing-disabled|testBuild/;

function readmeExample() {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const block = readme.split('<!-- usage-example:start -->')[1]?.split('<!-- usage-example:end -->')[0] ?? '';
  const code = block.match(/```ts\n([\s\S]*?)```/)?.[1];
  assert.ok(code, 'the README has a usage example');
  assert.ok(code.trim().split('\n').length <= 12, 'the usage example stays short');
  return code;
}

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'sotto-consumer-'));
  const app = path.join(work, 'app');
  cpSync(path.join(root, 'e2e/consumer'), app, { recursive: true });
  mkdirSync(path.join(app, 'src'), { recursive: true }); // the README example is the app's only source
  writeFileSync(path.join(app, 'src/main.ts'), readmeExample());
  const tarball = execFileSync('npm', ['pack', path.join(root, 'client-wasm/pkg'), '--pack-destination', work, '--silent'], { encoding: 'utf8' }).trim().split('\n').pop();
  tarballPath = path.join(work, tarball);
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--silent', tarballPath], { cwd: app, stdio: 'inherit' });
  execFileSync(bin('tsc'), ['-p', path.join(app, 'tsconfig.json')], { stdio: 'inherit' });
  execFileSync(bin('vite'), ['build', app, '--outDir', path.join(app, 'dist'), '--logLevel', 'warn'], { cwd: app, stdio: 'inherit' });
  worker = await startWorker();
  proxy = await startRecordingProxy({ upstream: worker.origin, staticRoot: path.join(app, 'dist') });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await proxy?.stop();
  await worker?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the packed npm package holds no test hook: not in its wasm, not in its JavaScript', () => {
  const unpacked = path.join(work, 'unpacked');
  mkdirSync(unpacked, { recursive: true });
  execFileSync('tar', ['-xzf', tarballPath, '-C', unpacked]);
  const dir = path.join(unpacked, 'package');
  const files = readdirSync(dir).filter((f) => /\.(js|wasm)$/.test(f));
  assert.ok(['sotto_call_wasm_bg.wasm', 'sotto_client_wasm_bg.wasm', 'sotto.js', 'sotto-worker.js'].every((f) => files.includes(f)), `the tarball has both wasm modules and the JavaScript: ${files}`);
  const found = [];
  for (const file of files) {
    const text = readFileSync(path.join(dir, file)).toString('latin1');
    const lower = text.toLowerCase();
    for (const name of TEST_HOOK_NAMES) if (lower.includes(name.toLowerCase())) found.push(`${file}: ${name}`);
    if (file.endsWith('.js') && TESTING_FLAG.test(text)) found.push(`${file}: testing flag (${text.match(TESTING_FLAG)[0]})`);
  }
  assert.deepEqual(found, [], 'test hooks in the production package');
  // The search can find them: the test build has them all.
  const testBuild = ['sotto.js', 'sotto-worker.js', 'sotto_client_wasm_bg.wasm'].map((f) => readFileSync(path.join(root, 'target/pkg-testing', f)).toString('latin1')).join('\n');
  const inTestBuild = ['exportKeysForTesting', 'testDecryptWith', 'testAttack', 'testCaptured', 'sottoTestOptions'].filter((n) => testBuild.includes(n));
  assert.equal(inTestBuild.length, 5, `the same search finds the hooks in the test build (${inTestBuild})`);
  console.log(`consumer: ${files.length} shipped files searched for ${TEST_HOOK_NAMES.length} hook names and a testing flag: none; the test build has them`);
});

test('the packed npm package, built with Vite and checked by tsc, makes a call', async () => {
  // Vite found both wasm modules (the page's call core, the crypto worker's) and the worker.
  const built = readdirSync(path.join(work, 'app/dist'), { recursive: true }).map(String);
  const wasm = built.filter((f) => f.endsWith('.wasm')).map((f) => path.basename(f).replace(/-[\w-]+\.wasm$/, ''));
  assert.deepEqual(wasm.sort(), ['sotto_call_wasm_bg', 'sotto_client_wasm_bg'], `the Vite build holds both wasm modules: ${built}`);
  assert.ok(built.some((f) => /sotto-worker[-.]/.test(path.basename(f))), `and the crypto worker: ${built}`);
  const pages = [];
  for (const label of ['A', 'B']) {
    const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(label === 'A' ? `${proxy.origin}/` : pages[0].page.url());
    if (label === 'A') await page.waitForFunction(() => location.hash.length > 40);
    pages.push({ label, page, context, errors });
  }
  for (const { label, page, errors } of pages) {
    const frames = await page.waitForFunction(() => {
      const video = document.querySelector('#remote');
      const shown = video?.getVideoPlaybackQuality?.().totalVideoFrames ?? 0;
      return video && video.videoWidth > 0 && shown > 10 ? shown : false;
    }, null, { timeout: 30_000, polling: 200 }).then((h) => h.jsonValue()).catch(() => 0);
    assert.ok(frames > 10, `${label} shows the remote video (${frames} frames; errors: ${errors.join('; ')})`);
  }
  console.log('consumer: npm pack -> npm install -> tsc -> vite build -> call with remote video on both sides');
  for (const { context } of pages) await context.close();
});
