// The servers the relay benchmark compares, each started with compression stated:
//   peerserver  PeerServer (npm `peer` 1.0.2) in its own Node process
//   workerd     Sotto's worker on raw workerd (generated config, no dev proxy)
//   js          the plain JavaScript Durable Object reference (bench/js-relay.mjs) on raw workerd
//   wrangler    Sotto's worker on `wrangler dev` (its dev proxy included)
// Each returns { origin, protocol, pids() (every process whose CPU counts), stop() }.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../e2e/lib/ports.mjs';
import { processTree } from './lib-relay.mjs';
import { SOTTO_WORKER, startWorkerd } from '../signaling-worker/tests/workerd.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The plain JavaScript Durable Object relay (bench/js-relay.mjs), the reference. */
export const JS_WORKER = {
  modules: [{ name: 'js-relay.mjs', kind: 'esModule', file: path.join(root, 'bench/js-relay.mjs') }],
  objects: [{ binding: 'ROOM', className: 'Room' }],
};

// The per-socket rate limit (50 msg/s, burst 100) is an abuse limit a real client never meets
// (a call needs a few dozen messages); the relay benchmark lifts it to measure the relay.
export const BENCH_VARS = { RATE_PER_SEC: '1000000', RATE_BURST: '1000000' };

export const TARGETS = {
  peerserver: { label: 'PeerServer', start: startPeerServer, protocol: 'peerserver' },
  workerd: { label: 'Sotto, raw workerd', start: (o) => startWorkerd({ ...o, worker: SOTTO_WORKER, vars: BENCH_VARS }), protocol: 'sotto' },
  js: { label: 'plain JS Durable Object, raw workerd', start: (o) => startWorkerd({ ...o, worker: JS_WORKER }), protocol: 'sotto' },
  wrangler: { label: 'Sotto, wrangler dev', start: startWrangler, protocol: 'sotto' },
};

export async function startTarget(name, { compression }) {
  const target = TARGETS[name];
  const running = await target.start({ compression });
  return { ...running, name, label: target.label, protocol: target.protocol };
}

async function startPeerServer({ compression }) {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(root, 'bench/peerserver.mjs'), String(port), compression ? 'deflate' : 'plain'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => String(d).includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`peerserver exited (${code})`)));
  });
  return {
    origin: `http://127.0.0.1:${port}`,
    pids: () => [child.pid],
    stop: () => new Promise((resolve) => { child.once('exit', resolve); child.kill(); }),
  };
}

// wrangler dev from a copy of signaling-worker/wrangler.toml whose compatibility flags say
// whether WebSockets may be compressed (workerd's `no_web_socket_compression`).
async function startWrangler({ compression, readyTimeoutMs = 60_000 }) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'sotto-wrangler-bench-'));
  const worker = path.join(root, 'signaling-worker');
  let toml = readFileSync(path.join(worker, 'wrangler.toml'), 'utf8')
    .replace(/^compatibility_flags\s*=.*$/m, '')
    .replace(/^main\s*=.*$/m, `main = ${JSON.stringify(path.join(worker, 'build/index.js'))}`)
    .replace(/^\[assets\][\s\S]*?(?=^\[\[)/m, '');
  toml = toml.replace(/^(compatibility_date\s*=.*)$/m, `$1\ncompatibility_flags = ${JSON.stringify(compression ? [] : ['no_web_socket_compression'])}`);
  writeFileSync(path.join(dir, 'wrangler.toml'), toml);
  const child = spawn(
    path.join(root, 'node_modules/.bin/wrangler'),
    ['dev', '-c', path.join(dir, 'wrangler.toml'), '--ip', '127.0.0.1', '--port', String(port), '--persist-to', path.join(dir, 'state'), '--show-interactive-dev-session=false', '--log-level', 'warn', ...Object.entries(BENCH_VARS).flatMap(([k, v]) => ['--var', `${k}:${v}`])],
    { cwd: dir, env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited (${child.exitCode}):\n${log}`);
    try {
      await fetch(`${origin}/ready-check`);
      break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      process.kill(-child.pid, 'SIGKILL');
      throw new Error(`wrangler dev was not ready in ${readyTimeoutMs} ms:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    origin,
    pids: () => processTree(child.pid),
    log: () => log,
    stop: () => new Promise((resolve) => {
      const done = () => { rmSync(dir, { recursive: true, force: true }); resolve(); };
      if (child.exitCode !== null) return done();
      child.once('exit', done);
      try { process.kill(-child.pid, 'SIGTERM'); } catch { done(); }
      setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 3000).unref();
    }),
  };
}
