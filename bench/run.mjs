// `make bench`: Sotto against the baselines a user would pick, side by side in one run,
// alternating, medians and ratios. Loopback only (run inside `unshare -n`), bounded in time.
// Writes bench/results.json and regenerates BENCHMARKS.md.
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startWorker } from '../e2e/lib/worker.mjs';
import { launchChromium } from '../e2e/lib/browser.mjs';
import { freePort } from '../e2e/lib/ports.mjs';
import { relayBench } from './relay.mjs';
import { renderMarkdown } from './report.mjs';
import { clientSizes } from '../scripts/sizes.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// `node bench/run.mjs relay sizes`: only those sections, printed; with `--merge`, also merged
// into bench/results.json and BENCHMARKS.md regenerated.
const merge = process.argv.includes('--merge');
const only = new Set(process.argv.slice(2).filter((a) => a !== '--merge'));
const wanted = (name) => only.size === 0 || only.has(name);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function log(line) { process.stdout.write(`[bench] ${line}\n`); }

// ── 5. sizes ─────────────────────────────────────────────────────────────
// The client package's figures come from scripts/sizes.mjs (the same ones `make test` checks).
function sizes() {
  const gz = (file) => gzipSync(readFileSync(file), { level: 9 }).length;
  const build = path.join(root, 'signaling-worker/build');
  const workerWasm = readdirSync(build, { recursive: true }).find((f) => String(f).endsWith('.wasm'));
  return {
    client: clientSizes(path.join(root, 'client-wasm/pkg')),
    workerWasmBytes: readFileSync(path.join(build, workerWasm)).length,
    workerWasmGzip: gz(path.join(build, workerWasm)),
  };
}

// A static server for the benchmark pages and the client package.
async function startStatic() {
  const port = await freePort();
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const file = url.pathname.startsWith('/pkg/')
      ? path.join(root, 'client-wasm', url.pathname)
      : path.join(root, 'bench/pages', url.pathname);
    try {
      const body = readFileSync(file);
      res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { origin: `http://127.0.0.1:${port}`, stop: () => new Promise((r) => server.close(r)) };
}

// ── 1. frame crypto in the browser ───────────────────────────────────────
async function frameCrypto(browser, pages) {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${pages.origin}/frame-crypto.html?rounds=7`);
  const result = await page.evaluate(() => window.result);
  await page.context().close();
  return result;
}

// ── 4. signaling relay: bench/relay.mjs (it starts its own servers) ─────

// ── 3. call setup ────────────────────────────────────────────────────────
async function sottoSetup(browser, worker) {
  const ctxA = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const ctxB = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const a = await ctxA.newPage();
  await a.goto(`${worker.origin}/`);
  await a.click('#join');
  await a.waitForFunction(() => window.sotto?.call?.roomId, null, { timeout: 20_000 }).catch(async (error) => {
    const state = await a.evaluate(() => ({ status: document.querySelector('#status')?.textContent, error: document.querySelector('#error')?.textContent, events: window.sotto?.events }));
    throw new Error(`the first participant did not join: ${JSON.stringify(state)}`, { cause: error });
  });
  const b = await ctxB.newPage();
  await b.goto(a.url());
  await b.waitForSelector('#join:not([disabled])');
  const ms = await b.evaluate(async () => {
    const t0 = performance.now();
    document.getElementById('join').click();
    for (;;) {
      const call = window.sotto.call;
      if (call) {
        const stats = Object.values(await call.mediaStats());
        if (stats.some((s) => s.framesDecoded > 0)) return performance.now() - t0;
      }
      if (performance.now() - t0 > 20_000) return NaN;
      await new Promise((r) => setTimeout(r, 5));
    }
  });
  await ctxA.close();
  await ctxB.close();
  return ms;
}

async function bareSetup(browser, pages) {
  const ctxA = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const ctxB = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const a = await ctxA.newPage();
  const b = await ctxB.newPage();
  await a.goto(`${pages.origin}/bare.html`);
  await b.goto(`${pages.origin}/bare.html`);
  // Time runs on the driver's clock, from B deciding to call until B decodes A's video.
  const t0 = performance.now();
  const offer = await b.evaluate(() => window.offer());
  const answer = await a.evaluate((sdp) => window.answer(sdp), offer);
  await b.evaluate((sdp) => window.accept(sdp), answer);
  await b.evaluate(async () => { while ((await window.framesDecoded()) === 0) await new Promise((r) => setTimeout(r, 5)); });
  const ms = performance.now() - t0;
  await ctxA.close();
  await ctxB.close();
  return ms;
}

async function callSetup(browser, worker, pages, calls = 10) {
  const sotto = [];
  const bare = [];
  for (let i = 0; i < calls; i += 1) {
    sotto.push(await sottoSetup(browser, worker));
    bare.push(await bareSetup(browser, pages));
  }
  const row = { calls, sottoMs: median(sotto), bareMs: median(bare), sottoAll: sotto, bareAll: bare };
  row.ratio = row.sottoMs / row.bareMs;
  return row;
}

// ── 2. CPU of a call with E2EE on and off ────────────────────────────────
function chromiumTicks() {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!/chrom/i.test(comm)) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime + stime
    } catch { /* process ended */ }
  }
  return ticks;
}

async function cpuOfCall(browser, worker, e2ee, seconds) {
  const ctxA = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const ctxB = await browser.newContext({ permissions: ['camera', 'microphone'] });
  // The demo takes no option from its URL; the test build it is served from (see
  // e2e/lib/worker.mjs) reads the opt-out from the test options.
  if (!e2ee) for (const ctx of [ctxA, ctxB]) await ctx.addInitScript(() => { window.sottoTestOptions = { e2ee: false }; });
  const a = await ctxA.newPage();
  await a.goto(`${worker.origin}/`);
  await a.click('#join');
  await a.waitForFunction(() => window.sotto?.call?.roomId, null, { timeout: 60_000 });
  const b = await ctxB.newPage();
  await b.goto(a.url());
  await b.click('#join');
  await b.waitForFunction(async () => window.sotto?.call && Object.values(await window.sotto.call.mediaStats()).some((s) => s.framesDecoded > 30), null, { timeout: 30_000, polling: 200 });
  const hz = 100; // USER_HZ on Linux
  const before = chromiumTicks();
  await sleep(seconds * 1000);
  const used = (chromiumTicks() - before) / hz;
  const decoded = await b.evaluate(async () => Object.values(await window.sotto.call.mediaStats())[0].framesDecoded);
  await ctxA.close();
  await ctxB.close();
  return { cpuPercentOfOneCore: (used / seconds) * 100, framesDecodedAtB: decoded };
}

// The same measurement on a bare call (SDP passed directly), with and without a copying
// pass-through transform: how much of E2EE's cost is the transform machinery, not the crypto.
async function cpuOfBareCall(browser, pages, transform, seconds) {
  const ctxA = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const ctxB = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const a = await ctxA.newPage();
  const b = await ctxB.newPage();
  const url = `${pages.origin}/bare.html${transform ? '?transform=passthrough' : ''}`;
  await a.goto(url);
  await b.goto(url);
  const offer = await b.evaluate(() => window.offer());
  const answer = await a.evaluate((sdp) => window.answer(sdp), offer);
  await b.evaluate((sdp) => window.accept(sdp), answer);
  await b.evaluate(async () => { while ((await window.framesDecoded()) < 30) await new Promise((r) => setTimeout(r, 50)); });
  const before = chromiumTicks();
  await sleep(seconds * 1000);
  const used = (chromiumTicks() - before) / 100;
  await ctxA.close();
  await ctxB.close();
  return (used / seconds) * 100;
}

async function cpu(browser, worker, pages, rounds = 3, seconds = 8) {
  const on = [];
  const off = [];
  const barePassthrough = [];
  const bare = [];
  for (let i = 0; i < rounds; i += 1) {
    on.push((await cpuOfCall(browser, worker, true, seconds)).cpuPercentOfOneCore);
    off.push((await cpuOfCall(browser, worker, false, seconds)).cpuPercentOfOneCore);
    barePassthrough.push(await cpuOfBareCall(browser, pages, true, seconds));
    bare.push(await cpuOfBareCall(browser, pages, false, seconds));
  }
  const row = { rounds, seconds, e2eeOnPercent: median(on), e2eeOffPercent: median(off), onAll: on, offAll: off };
  row.ratio = row.e2eeOnPercent / row.e2eeOffPercent;
  row.bare = { passthroughPercent: median(barePassthrough), plainPercent: median(bare), passthroughAll: barePassthrough, plainAll: bare };
  row.bare.ratio = row.bare.passthroughPercent / row.bare.plainPercent;
  return row;
}

// ── run ──────────────────────────────────────────────────────────────────
const results = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, kernel: os.release() },
};
// The browser sections share one worker, one static server and one browser; the relay
// section starts its own servers and needs none of them.
const browserSections = ['setup', 'cpu', 'frame-crypto'].some(wanted);
const worker = browserSections ? await startWorker() : null;
const pages = browserSections ? await startStatic() : null;
const browser = browserSections ? await launchChromium() : null;
if (browser) results.machine.chromium = browser.version();
try {
  if (wanted('sizes')) { results.sizes = sizes(); log(`sizes ${JSON.stringify(results.sizes)}`); }
  if (wanted('setup')) { results.callSetup = await callSetup(browser, worker, pages); log(`setup: sotto ${results.callSetup.sottoMs.toFixed(0)} ms, bare ${results.callSetup.bareMs.toFixed(0)} ms, ratio ${results.callSetup.ratio.toFixed(2)}`); }
  if (wanted('cpu')) {
    results.cpu = await cpu(browser, worker, pages);
    log(`cpu: on ${results.cpu.e2eeOnPercent.toFixed(1)}%, off ${results.cpu.e2eeOffPercent.toFixed(1)}%, ratio ${results.cpu.ratio.toFixed(2)}; bare call with a pass-through transform ${results.cpu.bare.passthroughPercent.toFixed(1)}% vs none ${results.cpu.bare.plainPercent.toFixed(1)}%, ratio ${results.cpu.bare.ratio.toFixed(2)}`);
  }
  if (wanted('relay')) results.relay = { ...(await relayBench()), machine: results.machine };
  if (wanted('frame-crypto')) {
    results.frameCrypto = await frameCrypto(browser, pages);
    for (const r of results.frameCrypto.results) log(`frame crypto ${r.size} B: sotto ${r.sottoUs.toFixed(1)} µs, baseline ${r.baselineUs.toFixed(1)} µs, ratio ${r.ratio.toFixed(2)}`);
  }
} finally {
  await browser?.close();
  await pages?.stop();
  await worker?.stop();
}
if (only.size === 0 || merge) {
  const old = only.size === 0 ? null : JSON.parse(readFileSync(path.join(root, 'bench/results.json'), 'utf8'));
  // Merged: the new sections replace the old ones; the run date stays the full run's.
  const merged = old ? { ...old, ...results, date: old.date, machine: old.machine } : results;
  if (merged.signaling && merged.relay) delete merged.signaling; // the earlier relay figures, replaced
  writeFileSync(path.join(root, 'bench/results.json'), `${JSON.stringify(merged, null, 2)}\n`);
  writeFileSync(path.join(root, 'BENCHMARKS.md'), renderMarkdown(merged));
  log('wrote bench/results.json and BENCHMARKS.md');
} else {
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}
