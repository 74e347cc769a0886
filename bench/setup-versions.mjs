// Issue 13 item 7: call setup (join to first decoded frame) of protocol v2 against the last
// pre-v2 client (v1, commit 0d91b7a), side by side in one run, with bare WebRTC as the floor
// and v2's relay-only mode (coturn) beside it. Loopback only (run inside `unshare -n`).
//
//   node bench/setup-versions.mjs [--calls N] [--merge] [--breakdown]
//
// The v1 side is a git worktree of 0d91b7a built with its own Makefile (`make bench-v1` makes
// it in target/v1; SOTTO_V1_DIR points elsewhere): its test build (target/www-testing) served by
// its own signaling worker (its e2e/lib/worker.mjs). The v2 side is this tree's. Both versions
// are driven by the same page code: a page on the worker's origin imports that version's
// ./pkg/sotto.js and calls joinCall({ roomSecret, localStream }) (the demo pages differ between
// the versions and are not measured). One call: A joins and waits for its room id; then, on B's
// clock, B asks for the camera and joins, until B's first decoded frame of A's video. The floor
// is bench/pages/bare.html (SDP passed directly, as bench/run.mjs's call setup). Rounds
// alternate the four kinds, rotating their order each round; medians of the successful calls.
// Without a v1 build it prints why and exits 0. With --merge, bench/results.json gets the
// figures under `setupVersions` and BENCHMARKS.md is regenerated (bench/report.mjs).
// With --breakdown it runs v1, v2 and relay-only only, with bench/setup-breakdown.mjs's
// instrumentation in both pages, and prints (with --merge: stores under `setupBreakdown`) the
// median time of each step from B asking for the camera to its first decoded frame.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startWorker } from '../e2e/lib/worker.mjs';
import { startCoturn } from '../e2e/lib/coturn.mjs';
import { launchChromium } from '../e2e/lib/browser.mjs';
import { renderMarkdown } from './report.mjs';
import { INSTRUMENT, breakdownTable, milestones, summarise } from './setup-breakdown.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const v1Dir = path.resolve(process.env.SOTTO_V1_DIR ?? path.join(root, 'target/v1'));
const merge = process.argv.includes('--merge');
const breakdown = process.argv.includes('--breakdown');
const callsArg = process.argv.indexOf('--calls');
const calls = callsArg > 0 ? Number(process.argv[callsArg + 1]) : 10;
const log = (line) => process.stdout.write(`[bench] setup-versions: ${line}\n`);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const load = () => os.loadavg().map((x) => Math.round(x * 100) / 100);

if (!existsSync(path.join(v1Dir, 'target/www-testing/pkg/sotto.js')) || !existsSync(path.join(v1Dir, 'signaling-worker/build/index.js'))) {
  log(`SKIPPED: no pre-v2 (v1) build in ${v1Dir} (its target/www-testing and signaling-worker/build/index.js); \`make bench-v1\` builds it from a git worktree of 0d91b7a`);
  process.exit(0);
}

// The page both versions are driven by, next to a copy of that version's test build (copied so
// a rebuild of this tree during the run cannot change what is measured).
const PAGE = `<!doctype html><meta charset="utf-8"><title>call setup bench</title>
<video id="remote" autoplay playsinline muted></video>
<script type="module">
import * as sotto from './pkg/sotto.js';
window.bench = {
  secret: () => sotto.generateRoomSecret(),
  async join(roomSecret, privacy) {
    window.__mark?.('gum-asked'); // (the --breakdown instrumentation only)
    const localStream = navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
    localStream.then(() => window.__mark?.('gum-done'), () => {});
    const options = { roomSecret, localStream };
    if (privacy) options.privacy = privacy;
    window.call = await sotto.joinCall(options);
    window.__mark?.('joined');
    return window.call.roomId;
  },
};
window.ready = true;
</script>`;

function stage(fromDir) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sotto-setup-bench-'));
  cpSync(fromDir, dir, { recursive: true });
  writeFileSync(path.join(dir, 'setup-bench.html'), PAGE);
  cpSync(path.join(root, 'bench/pages/bare.html'), path.join(dir, 'bare.html'));
  return dir;
}

// Every call runs in two fresh browser contexts and is bounded: a call that fails or takes over
// 45 s in all (a join that never resolves, a frame that never comes) counts as failed (NaN).
async function bounded(browser, work) {
  const ctxA = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const ctxB = await browser.newContext({ permissions: ['camera', 'microphone'] });
  if (breakdown) for (const ctx of [ctxA, ctxB]) await ctx.addInitScript(INSTRUMENT);
  let timer;
  const run = work(await ctxA.newPage(), await ctxB.newPage()).catch((error) => { log(`a call failed: ${error.message.split('\n')[0]}`); return NaN; });
  const limit = new Promise((resolve) => { timer = setTimeout(() => { log('a call took over 45 s: counted as failed'); resolve(NaN); }, 45_000); });
  try {
    return await Promise.race([run, limit]);
  } finally {
    clearTimeout(timer);
    await ctxA.close().catch(() => {});
    await ctxB.close().catch(() => {});
  }
}

const steps = {}; // --breakdown: kind -> the steps of each call
const sottoCall = (browser, origin, privacy, kind) => bounded(browser, async (a, b) => {
  await a.goto(`${origin}/setup-bench.html`);
  await b.goto(`${origin}/setup-bench.html`);
  await a.waitForFunction(() => window.ready);
  await b.waitForFunction(() => window.ready);
  const secret = await a.evaluate(() => window.bench.secret());
  await a.evaluate(([s, p]) => window.bench.join(s, p), [secret, privacy]);
  const timing = await b.evaluate(async ([s, p]) => {
    const t0 = performance.now();
    let received = NaN;
    await window.bench.join(s, p);
    for (;;) {
      const stats = Object.values(await window.call.mediaStats());
      if (Number.isNaN(received) && stats.some((x) => x.framesReceived > 0)) received = performance.now() - t0;
      if (stats.some((x) => x.framesDecoded > 0)) return { ms: performance.now() - t0, received, t0: performance.timeOrigin + t0 };
      if (performance.now() - t0 > 30_000) return { ms: NaN };
      await new Promise((r) => setTimeout(r, 5));
    }
  }, [secret, privacy]);
  if (breakdown && Number.isFinite(timing.ms)) {
    const logs = async (page) => page.evaluate(() => ({ log: window.__setupLog, sealed: window.call?.testSealedLog?.() ?? [], keyFrames: window.__keyFramesEncoded }));
    const [la, lb] = [await logs(a), await logs(b)];
    (steps[kind] ??= []).push(milestones({ a: la.log, b: lb.log, sealedA: la.sealed, sealedB: lb.sealed, t0: timing.t0, received: timing.received, end: timing.ms, keyFramesA: la.keyFrames }));
  }
  return timing.ms;
});

// As bench/run.mjs's bareSetup: from B deciding to call until B decodes A's video.
const bareCall = (browser, origin) => bounded(browser, async (a, b) => {
  await a.goto(`${origin}/bare.html`);
  await b.goto(`${origin}/bare.html`);
  const t0 = performance.now();
  const offer = await b.evaluate(() => window.offer());
  const answer = await a.evaluate((sdp) => window.answer(sdp), offer);
  await b.evaluate((sdp) => window.accept(sdp), answer);
  await b.evaluate(async () => { while ((await window.framesDecoded()) === 0) await new Promise((r) => setTimeout(r, 5)); });
  return performance.now() - t0;
});

const stagedV1 = stage(path.join(v1Dir, 'target/www-testing'));
const stagedV2 = stage(path.join(root, 'target/www-testing'));
const { startWorker: startV1Worker } = await import(pathToFileURL(path.join(v1Dir, 'e2e/lib/worker.mjs')).href);
const stops = []; // run in reverse, whatever fails
const cleanup = async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  for (const d of [stagedV1, stagedV2]) rmSync(d, { recursive: true, force: true });
};
let turn, v1, v2, v2relay, browser;
try {
  turn = await startCoturn();
  stops.push(() => turn.stop());
  v1 = await startV1Worker({ assets: stagedV1 });
  stops.push(() => v1.stop());
  v2 = await startWorker({ assets: stagedV2 });
  stops.push(() => v2.stop());
  v2relay = await startWorker({ assets: stagedV2, vars: { TURN_URLS: turn.url, TURN_SECRET: turn.secret } });
  stops.push(() => v2relay.stop());
  browser = await launchChromium();
  stops.push(() => browser.close());
} catch (error) {
  await cleanup();
  throw error;
}
const chromium = browser.version();

const kinds = {
  v1: () => sottoCall(browser, v1.origin, undefined, 'v1'),
  v2: () => sottoCall(browser, v2.origin, undefined, 'v2'),
  bare: () => bareCall(browser, v2.origin),
  v2relay: () => sottoCall(browser, v2relay.origin, 'relay', 'v2relay'),
};
if (breakdown) delete kinds.bare;
const names = Object.keys(kinds);
const all = Object.fromEntries(names.map((k) => [k, []]));
const loads = [load()];
const allocationsBefore = turn.allocations();
let allocations = null;
try {
  // One warm-up call of each (compile caches, first worker start), not counted.
  for (const k of names) await kinds[k]();
  for (const k of Object.keys(steps)) delete steps[k];
  for (let i = 0; i < calls; i += 1) {
    const order = names.map((_, j) => names[(i + j) % names.length]);
    for (const k of order) all[k].push(await kinds[k]());
    loads.push(load());
    log(`round ${i + 1}/${calls}: ${names.map((k) => `${k} ${all[k].at(-1).toFixed(0)} ms`).join(', ')}; load ${loads.at(-1)[0]}`);
  }
  allocations = turn.allocations() - allocationsBefore;
} finally {
  await cleanup();
}

const ok = (xs) => xs.filter(Number.isFinite);
if (breakdown) {
  const summary = summarise(steps);
  const row = {
    date: new Date().toISOString(), calls, v1Commit: process.env.SOTTO_V1_COMMIT ?? '0d91b7a',
    loadAverage1m: { min: Math.min(...loads.map((l) => l[0])), max: Math.max(...loads.map((l) => l[0])), median: median(loads.map((l) => l[0])) },
    totals: Object.fromEntries(names.map((k) => [k, median(ok(all[k]))])),
    summary,
    rpcOps: Object.fromEntries(Object.entries(steps).map(([k, list]) => [k, list[0]?.rpcOps ?? ''])),
  };
  process.stdout.write(`${breakdownTable(summary, names).join('\n')}\n`);
  log(`load ${row.loadAverage1m.min}-${row.loadAverage1m.max}; totals ${names.map((k) => `${k} ${row.totals[k]?.toFixed(0)} ms`).join(', ')}`);
  if (merge) {
    const file = path.join(root, 'bench/results.json');
    const results = JSON.parse(readFileSync(file, 'utf8'));
    const before = results.setupBreakdown; // kept in brief, shown beside (v2 before)
    if (before) row.previous = { date: before.date, calls: before.calls, loadAverage1m: before.loadAverage1m, totals: before.totals, summary: before.summary, note: before.note };
    if (process.env.SOTTO_BENCH_NOTE) row.note = process.env.SOTTO_BENCH_NOTE;
    results.setupBreakdown = row;
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(path.join(root, 'BENCHMARKS.md'), renderMarkdown(results));
    log('merged into bench/results.json and regenerated BENCHMARKS.md');
  } else {
    process.stdout.write(`${JSON.stringify(row, null, 2)}\n`);
  }
  process.exit(0);
}
const row = {
  date: new Date().toISOString(),
  v1Commit: process.env.SOTTO_V1_COMMIT ?? '0d91b7a',
  calls,
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, chromium },
  loadAverage1m: { min: Math.min(...loads.map((l) => l[0])), max: Math.max(...loads.map((l) => l[0])), median: median(loads.map((l) => l[0])) },
  coturnAllocations: allocations, // relay-only calls (warm-up included) allocate through coturn
};
for (const k of names) {
  row[`${k}Ms`] = median(ok(all[k]));
  row[`${k}Failed`] = all[k].length - ok(all[k]).length;
  row[`${k}All`] = all[k].map((x) => (Number.isFinite(x) ? Math.round(x) : null));
}
row.v2OverV1 = row.v2Ms / row.v1Ms;
// How far the ratio moves with the noise of this machine: the median of the per-round ratios
// (v1 and v2 ran back to back in each round), and a 90% bootstrap interval of the ratio of
// medians (2000 resamples of the calls, a fixed seed so a rerun on the same figures agrees).
const pairs = all.v1.map((x, i) => all.v2[i] / x).filter(Number.isFinite);
row.v2OverV1PerRoundMedian = median(pairs);
let seed = 13;
const random = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
const resample = (xs) => xs.map(() => xs[Math.floor(random() * xs.length)]);
const boot = Array.from({ length: 2000 }, () => median(resample(ok(all.v2))) / median(resample(ok(all.v1)))).sort((a, b) => a - b);
row.v2OverV1Interval90 = [boot[Math.floor(boot.length * 0.05)], boot[Math.floor(boot.length * 0.95)]];
row.relayOverV2 = row.v2relayMs / row.v2Ms;
row.v1OverBare = row.v1Ms / row.bareMs;
row.v2OverBare = row.v2Ms / row.bareMs;
log(`medians: v1 ${row.v1Ms.toFixed(0)} ms, v2 ${row.v2Ms.toFixed(0)} ms, v2 relay-only ${row.v2relayMs.toFixed(0)} ms, bare ${row.bareMs.toFixed(0)} ms; v2/v1 ${row.v2OverV1.toFixed(3)} (target ≤ 1.10; 90% interval ${row.v2OverV1Interval90.map((x) => x.toFixed(2)).join('-')}, per-round median ${row.v2OverV1PerRoundMedian.toFixed(2)}), relay/v2 ${row.relayOverV2.toFixed(2)}; load ${row.loadAverage1m.min}-${row.loadAverage1m.max}`);
if (merge) {
  const file = path.join(root, 'bench/results.json');
  const results = JSON.parse(readFileSync(file, 'utf8'));
  // the run before this one, in brief (BENCHMARKS.md shows it beside the new figures)
  const before = results.setupVersions;
  if (before) row.previous = { date: before.date, v1Ms: before.v1Ms, v2Ms: before.v2Ms, v2OverV1: before.v2OverV1, v2OverV1Interval90: before.v2OverV1Interval90, v2relayMs: before.v2relayMs, calls: before.calls, loadAverage1m: before.loadAverage1m, note: before.note };
  if (process.env.SOTTO_BENCH_NOTE) row.note = process.env.SOTTO_BENCH_NOTE;
  results.setupVersions = row;
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(path.join(root, 'BENCHMARKS.md'), renderMarkdown(results));
  log('merged into bench/results.json and regenerated BENCHMARKS.md');
} else {
  process.stdout.write(`${JSON.stringify(row, null, 2)}\n`);
}
