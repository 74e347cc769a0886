// Compression policy (README.md, "Compression"): the worker's WebSockets never negotiate
// permessage-deflate (`no_web_socket_compression` in wrangler.toml). Checked on raw workerd
// with wrangler.toml's own date and flags: under `wrangler dev` with [assets], the assets
// router in front of the worker answers the upgrade with its own flags, so the client there
// cannot see the worker's choice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { COMPATIBILITY_FLAGS, startWorkerd } from './workerd.mjs';

test('the worker refuses permessage-deflate on room and presence sockets', async () => {
  assert.ok(COMPATIBILITY_FLAGS.includes('no_web_socket_compression'), 'wrangler.toml sets no_web_socket_compression');
  const worker = await startWorkerd();
  try {
    for (const path of [`/ws/room/${randomBytes(18).toString('base64url')}`, '/ws/presence']) {
      // npm `ws` offers permessage-deflate, as browsers do.
      const ws = new WebSocket(`${worker.origin.replace('http', 'ws')}${path}`, { perMessageDeflate: true });
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
      assert.equal(ws.extensions, '', path);
      ws.terminate();
    }
  } finally {
    await worker.stop();
  }
});
