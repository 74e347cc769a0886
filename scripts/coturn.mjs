#!/usr/bin/env node
// `make demo RELAY=1`: the demo with a local TURN relay for the relay-only mode. Starts
// Debian's coturn on 127.0.0.1 (e2e/lib/coturn.mjs: TURN REST shared secret, fresh and random,
// in coturn's 0600 config file; wrangler dev gets it as a --var, fine for a local demo), then the signaling worker
// (`wrangler dev`, serving ../www) with TURN_URLS and TURN_SECRET set to match, so
// /api/turn-credentials hands out credentials coturn accepts. Ctrl-C stops both.
//
//   node scripts/coturn.mjs [--port 8787]
//
// Local only: coturn relays between loopback addresses, so both tabs must be on this machine.
// For a real deployment run coturn on a public host (README, "Deploying").
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCoturn } from '../e2e/lib/coturn.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const portArg = process.argv.indexOf('--port');
const port = portArg > 0 ? process.argv[portArg + 1] : '8787';
if (!/^\d{1,5}$/.test(port)) {
  console.error(`coturn.mjs: bad --port ${port}`);
  process.exit(2);
}

const turn = await startCoturn({ relayPorts: 128 });
console.log(`coturn: ${turn.url} (relay ports ${turn.minPort}-${turn.maxPort}); the worker gets the same shared secret`);
const wrangler = spawn(
  path.join(root, 'node_modules/.bin/wrangler'),
  ['dev', '--ip', '127.0.0.1', '--port', port, '--persist-to', mkdtempSync(path.join(tmpdir(), 'sotto-demo-')), '--assets', '../www',
    '--var', `TURN_URLS:${turn.url}`, '--var', `TURN_SECRET:${turn.secret}`],
  { cwd: path.join(root, 'signaling-worker'), env: { ...process.env, WRANGLER_SEND_METRICS: 'false' }, stdio: 'inherit' },
);
let stopping = false;
const stop = async (code) => {
  if (stopping) return;
  stopping = true;
  if (wrangler.exitCode === null) wrangler.kill('SIGTERM');
  await turn.stop();
  process.exit(code);
};
wrangler.on('exit', (code) => stop(code ?? 0));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => stop(0));
