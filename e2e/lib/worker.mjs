// Starts the real signaling worker on local workerd (`wrangler dev`) and stops it again. It
// serves the test build of the demo (target/www-testing, made by scripts/package-client.sh:
// the same pages with the client's test hooks kept) instead of www/.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TEST_ASSETS = path.join(root, 'target/www-testing');

/** `vars` overrides wrangler.toml [vars] for this run, e.g. { RATE_PER_SEC: '1000' };
 *  `assets` is the folder of static files served (default: the test build of the demo);
 *  `assets: null` runs the worker as wrangler.toml deploys it, with no page at all. */
export async function startWorker({ port, readyTimeoutMs = 60_000, vars = {}, assets = TEST_ASSETS } = {}) {
  if (assets !== null && !existsSync(path.join(assets, 'pkg/sotto.js'))) throw new Error(`${assets} has no pkg/sotto.js: run \`make client\` first`);
  port ??= await freePort();
  const persist = mkdtempSync(path.join(tmpdir(), 'sotto-wrangler-'));
  const child = spawn(
    path.join(root, 'node_modules/.bin/wrangler'),
    ['dev', '--ip', '127.0.0.1', '--port', String(port), '--persist-to', persist, '--show-interactive-dev-session=false', '--log-level', 'warn', ...(assets === null ? [] : ['--assets', assets]), ...Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}:${v}`])],
    { cwd: path.join(root, 'signaling-worker'), env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited (${child.exitCode}):\n${log}`);
    try {
      const response = await fetch(`${origin}/`);
      // Without assets the worker's own answer to `/` is a 404.
      if (assets === null ? response.status === 404 : response.ok) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      stopProcessGroup(child);
      throw new Error(`wrangler dev was not ready in ${readyTimeoutMs} ms:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    origin,
    port,
    log: () => log,
    async stop() {
      await stopProcessGroup(child);
      rmSync(persist, { recursive: true, force: true });
    },
  };
}

function stopProcessGroup(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    try { process.kill(-child.pid, 'SIGTERM'); } catch { resolve(); }
    setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 3000).unref();
  });
}
