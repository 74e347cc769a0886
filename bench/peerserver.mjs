// PeerServer (npm `peer`), the usual self-hosted signaling for PeerJS, as the baseline.
// Runs in its own process: node bench/peerserver.mjs <port> [deflate]
// With `deflate` its WebSocket server accepts permessage-deflate and compresses every message
// (threshold 0, as browsers and workerd do); without, it compresses nothing (its default).
import { WebSocketServer } from 'ws';
import { PeerServer } from 'peer';

const port = Number(process.argv[2]);
const deflate = process.argv[3] === 'deflate';
PeerServer({
  port,
  host: '127.0.0.1',
  path: '/',
  concurrent_limit: 100_000,
  alive_timeout: 600_000,
  createWebSocketServer: (options) => new WebSocketServer({ ...options, perMessageDeflate: deflate ? { threshold: 0 } : false }),
}, () => {
  process.stdout.write('ready\n');
});
