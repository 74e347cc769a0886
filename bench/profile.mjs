// Where a relayed message's server CPU goes: `perf record` on raw workerd under the relay load
// (200 clients, 8 in flight), V8's perf map for JIT and wasm frame names, samples grouped by
// what they are. Not part of `make bench` (it needs `perf`); run inside `unshare -n`:
//   node bench/profile.mjs sotto|js [label]
// Merges { label: { date, commit, usPerMessage, categories } } into bench/relay-profile.json.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runRelay } from './lib-relay.mjs';
import { BENCH_VARS, JS_WORKER } from './targets.mjs';
import { SOTTO_WORKER, startWorkerd } from '../signaling-worker/tests/workerd.mjs';

const which = process.argv[2] ?? 'sotto';
const label = process.argv[3] ?? which;
const out = new URL('./relay-profile.json', import.meta.url);

// First match wins. JIT frames are JavaScript or wasm (named from V8's perf map).
const CATEGORIES = [
  ['kernel (TCP, scheduling, syscalls)', (dso) => dso.startsWith('[kernel')],
  ['wasm-bindgen / workers-rs glue, JS side', (dso, sym) => dso.startsWith('[JIT') && sym.includes('index.js')],
  ['wasm-bindgen / workers-rs glue, wasm side', (dso, sym) => dso.startsWith('[JIT') && /wasm_bindgen|js_sys|__wbindgen|__wbg|externref|worker::|future_to_promise/.test(sym)],
  ['Sotto\'s Rust: serde_json', (dso, sym) => dso.startsWith('[JIT') && sym.includes('serde_json')],
  ['Sotto\'s Rust: the rest (allocator included)', (dso, sym) => dso.startsWith('[JIT') && /::|^JS:<|wasm-function/.test(sym)],
  ['JavaScript (JIT)', (dso) => dso.startsWith('[JIT')],
  ['malloc (tcmalloc, libc)', (dso, sym) => /tcmalloc|TCMalloc/.test(sym) || (dso.startsWith('libc') && /malloc|free/.test(sym))],
  ['V8 (GC, handles, builtins, JSON)', (dso, sym) => /v8::|Builtins_|Runtime_|Heap|Scavenge/.test(sym)],
  ['workerd hibernation / WebSocket / actor path', (dso, sym) => /Hibernat|WebSocket|Actor|actor|jsg::|workerd::/.test(sym)],
  ['workerd event loop and promises (kj)', (dso, sym) => sym.includes('kj::')],
  ['other', () => true],
];

function categorize(report) {
  const totals = Object.fromEntries(CATEGORIES.map(([name]) => [name, 0]));
  for (const line of report.split('\n')) {
    const m = /^\s*([\d.]+)%\s+(.+?)\s+\[([.k])\]\s+(.*)$/.exec(line);
    if (!m) continue;
    const [, pct, dso, , sym] = m;
    const [name] = CATEGORIES.find(([, test]) => test(dso, sym.trim()));
    totals[name] += Number(pct);
  }
  return totals;
}

const dir = mkdtempSync(path.join(tmpdir(), 'sotto-profile-'));
const data = path.join(dir, 'perf.data');
const target = await startWorkerd({ worker: which === 'js' ? JS_WORKER : SOTTO_WORKER, vars: BENCH_VARS, v8Flags: ['--perf-basic-prof'] });
const pid = target.pids()[0];
try {
  const load = { server: 'sotto', origin: target.origin, pids: target.pids, clients: 200, window: 8, procs: 3 };
  await runRelay({ ...load, windowMs: 1000 }); // warm up the JIT
  const perf = spawn('perf', ['record', '-F', '2000', '-e', 'cpu-clock', '-g', '-p', String(pid), '-o', data], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  const run = await runRelay({ ...load, windowMs: 4000 });
  perf.kill('SIGINT');
  await new Promise((r) => perf.once('exit', r));
  const report = execFileSync('perf', ['report', '-i', data, '--no-children', '-g', 'none', '--sort', 'dso,sym', '--stdio'], { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] });
  const categories = categorize(report);
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const entry = { date: new Date().toISOString(), commit, usPerMessageUnderPerf: run.serverUsPerMessage, categories };
  const all = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : {};
  all[label] = entry;
  writeFileSync(out, `${JSON.stringify(all, null, 2)}\n`);
  console.log(label, JSON.stringify(entry, null, 2));
} finally {
  await target.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(`/tmp/perf-${pid}.map`, { force: true });
}
