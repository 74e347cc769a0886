// Runs a worker on raw `workerd` (no wrangler, no dev proxy): a generated capnp config, one
// process, the same build wrangler serves. Used by the hibernation test (it needs its own
// limits) and by the relay benchmark (bench/), as the target closest to what Cloudflare runs.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../e2e/lib/ports.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const WORKERD = path.join(root, 'node_modules/workerd/bin/workerd');
// The compatibility date and flags of the production config, signaling-worker/wrangler.toml.
const wrangler = readFileSync(path.join(root, 'signaling-worker/wrangler.toml'), 'utf8');
export const COMPATIBILITY_DATE = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(wrangler)[1];
export const COMPATIBILITY_FLAGS = JSON.parse(/^compatibility_flags\s*=\s*(\[.*\])/m.exec(wrangler)?.[1] ?? '[]');

/** The Sotto worker as built by `make worker`. */
export const SOTTO_WORKER = {
  modules: [
    { name: 'index.js', kind: 'esModule', file: path.join(root, 'signaling-worker/build/index.js') },
    { name: 'index_bg.wasm', kind: 'wasm', file: path.join(root, 'signaling-worker/build/index_bg.wasm') },
  ],
  objects: [
    { binding: 'ROOM', className: 'Room' },
    { binding: 'PRESENCE', className: 'Presence' },
    { binding: 'MAILBOX', className: 'Mailbox' },
  ],
};

const str = (s) => JSON.stringify(String(s));

/** The capnp text of a config serving `worker` on 127.0.0.1:`port`. */
export function config({ worker, port, compression, vars, storage, dir, v8Flags = [] }) {
  // capnp `embed` paths are relative to the config file.
  const modules = worker.modules
    .map((m) => `(name = ${str(m.name)}, ${m.kind} = embed ${str(path.relative(dir, m.file))})`)
    .join(',\n      ');
  const namespaces = worker.objects
    .map((o) => `(className = ${str(o.className)}, uniqueKey = ${str(`sotto-bench-${o.className}`)}, enableSql = true)`)
    .join(', ');
  const bindings = [
    ...worker.objects.map((o) => `(name = ${str(o.binding)}, durableObjectNamespace = ${str(o.className)})`),
    ...Object.entries(vars).map(([k, v]) => `(name = ${str(k)}, text = ${str(v)})`),
  ].join(',\n      ');
  // workerd negotiates permessage-deflate from compatibility date 2023-08-15 on; the flag
  // turns it off. `compression` undefined: as wrangler.toml says.
  const others = COMPATIBILITY_FLAGS.filter((f) => !/web_socket_compression$/.test(f));
  const flags = compression === undefined ? COMPATIBILITY_FLAGS : [...others, ...(compression ? [] : ['no_web_socket_compression'])];
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "storage", disk = (path = ${str(storage)}, writable = true)),
  ],
  sockets = [(name = "http", address = ${str(`127.0.0.1:${port}`)}, http = (), service = "main")],
  v8Flags = [${v8Flags.map(str).join(', ')}],
);
const worker :Workerd.Worker = (
  modules = [
      ${modules}
  ],
  compatibilityDate = ${str(COMPATIBILITY_DATE)},
  compatibilityFlags = [${flags.map(str).join(', ')}],
  bindings = [
      ${bindings}
  ],
  durableObjectNamespaces = [${namespaces}],
  durableObjectStorage = (localDisk = "storage"),
);
`;
}

/**
 * Starts workerd serving `worker` (default: Sotto's). `compression`: whether WebSockets may
 * negotiate permessage-deflate (default: as wrangler.toml's flags say). Resolves once it
 * accepts connections.
 */
export async function startWorkerd({ worker = SOTTO_WORKER, compression, vars = {}, v8Flags = [], readyTimeoutMs = 20_000 } = {}) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'sotto-workerd-'));
  const file = path.join(dir, 'config.capnp');
  writeFileSync(file, config({ worker, port, compression, vars, storage: path.join(dir, 'do'), dir, v8Flags }));
  mkdirSync(path.join(dir, 'do'));
  const child = spawn(WORKERD, ['serve', file, '--experimental'], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`workerd exited (${child.exitCode}):\n${log}`);
    try {
      await fetch(`${origin}/ready-check`);
      break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`workerd was not ready in ${readyTimeoutMs} ms:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    origin,
    pids: () => [child.pid],
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
