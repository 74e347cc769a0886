// PeerServer (npm `peer`), the usual self-hosted signaling for PeerJS, as the baseline.
// Runs in its own process: node bench/peerserver.mjs <port>
import { PeerServer } from 'peer';

const port = Number(process.argv[2]);
PeerServer({ port, host: '127.0.0.1', path: '/', concurrent_limit: 100_000, alive_timeout: 600_000 }, () => {
  process.stdout.write('ready\n');
});
