// Starts Debian's coturn (`turnserver`) on loopback, in the caller's network namespace, with
// the TURN REST API's shared secret (the scheme the worker's /api/turn-credentials signs
// with), and stops it again. Used by the relay-only e2e tests and by `make demo RELAY=1`
// (scripts/coturn.mjs).
//
//   const turn = await startCoturn({ secret });      // secret: default 32 random bytes
//   turn.url     'turn:127.0.0.1:<port>?transport=udp'   (pass as the worker's TURN_URLS)
//   turn.secret  the static-auth-secret                    (pass as the worker's TURN_SECRET)
//   turn.log()   coturn's log so far (text); turn.allocations() counts successful allocations
//   await turn.stop()
//
// Everything goes into a config file (mode 0600, so the secret is not on a command line) in
// a fresh temp dir with the log, the pid file and coturn's SQLite file, removed on stop().
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const TURNSERVER = process.env.TURNSERVER_PATH ?? '/usr/bin/turnserver';

/**
 * @param {object} [o]
 * @param {string} [o.secret]    shared secret (static-auth-secret); default: fresh random
 * @param {string} [o.realm]     default 'sotto.test'
 * @param {number} [o.port]      listening port (UDP and TCP); default: a free one
 * @param {number} [o.relayPorts] how many relay ports (UDP) to reserve; default 64
 * @param {number} [o.readyTimeoutMs]
 * @returns {Promise<{url: string, urls: string[], secret: string, realm: string, host: string,
 *   port: number, minPort: number, maxPort: number, log(): string, allocations(): number,
 *   stop(): Promise<void>}>}
 */
export async function startCoturn({ secret, realm = 'sotto.test', port, relayPorts = 64, readyTimeoutMs = 10_000 } = {}) {
  if (!existsSync(TURNSERVER)) throw new Error(`${TURNSERVER} missing: run \`make setup\` (installs Debian's coturn)`);
  secret ??= randomBytes(32).toString('base64url');
  if (!/^[A-Za-z0-9_-]{8,128}$/.test(secret)) throw new Error('coturn: the secret must be 8-128 base64url characters');
  const host = '127.0.0.1';
  port ??= await freeUdpAndTcpPort(host);
  const [minPort, maxPort] = await freeUdpRange(host, relayPorts, port);
  const dir = mkdtempSync(path.join(tmpdir(), 'sotto-coturn-'));
  const logFile = path.join(dir, 'turn.log');
  const config = path.join(dir, 'turnserver.conf');
  writeFileSync(config, [
    // Where: loopback only, for listening and for relaying; no external address mapping.
    `listening-ip=${host}`,
    `relay-ip=${host}`,
    `listening-port=${port}`,
    `min-port=${minPort}`,
    `max-port=${maxPort}`,
    // Who: the TURN REST API (username "<expiry>:<anything>", password base64(HMAC-SHA1)).
    'use-auth-secret',
    `static-auth-secret=${secret}`,
    `realm=${realm}`,
    'fingerprint',
    // The two browsers' relay addresses are both on 127.0.0.1: coturn refuses loopback peers
    // unless told (a production server must not allow them).
    'allow-loopback-peers',
    'no-multicast-peers',
    // Nothing else: no TLS/DTLS listeners (no certificate), no admin CLI or web admin, no
    // RFC 5780 NAT discovery, no version in responses, UDP relays only.
    'no-tls',
    'no-dtls',
    'no-cli',
    'no-rfc5780',
    'no-software-attribute',
    'no-tcp-relay',
    'relay-threads=1',
    // Session events (allocations, permissions, refusals) in the log: allocations() reads it.
    'verbose',
    // Files in the temp dir only (coturn otherwise writes to /var/run, /var/lib/turn, /var/log).
    `log-file=${logFile}`,
    'simple-log',
    'no-stdout-log',
    `pidfile=${path.join(dir, 'turnserver.pid')}`,
    `userdb=${path.join(dir, 'turndb')}`,
    '',
  ].join('\n'), { mode: 0o600 });

  const child = spawn(TURNSERVER, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const log = () => { try { return readFileSync(logFile, 'utf8'); } catch { return ''; } };
  const stop = async () => {
    await stopProcessGroup(child);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) {
      const text = `${stderr}\n${log()}`;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`turnserver exited (${child.exitCode}):\n${text}`);
    }
    if (await stunBindingAnswered(host, port)) break;
    if (Date.now() > deadline) {
      const text = log();
      await stop();
      throw new Error(`turnserver did not answer a STUN binding request in ${readyTimeoutMs} ms:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const url = `turn:${host}:${port}?transport=udp`;
  return {
    url,
    urls: [url],
    secret,
    realm,
    host,
    port,
    minPort,
    maxPort,
    log,
    /** Allocations coturn granted so far (from its log). */
    allocations: () => (log().match(/ALLOCATE processed, success/g) ?? []).length,
    stop,
  };
}

/** One STUN Binding request (RFC 5389) over UDP; true once a success response comes back. */
function stunBindingAnswered(host, port, timeoutMs = 300) {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    const id = randomBytes(12);
    const request = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), id]);
    const done = (ok) => { clearTimeout(timer); socket.close(); resolve(ok); };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('error', () => done(false));
    socket.on('message', (m) => {
      if (m.length >= 20 && m.readUInt16BE(0) === 0x0101 && m.subarray(8, 20).equals(id)) done(true);
    });
    socket.send(request, port, host);
  });
}

async function freeUdpAndTcpPort(host) {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, host, () => { const p = s.address().port; s.close(() => resolve(p)); });
    });
    if (await udpFree(host, port)) return port;
  }
  throw new Error('coturn: no free port');
}

/** A run of `count` UDP ports that were free a moment ago, avoiding `avoid`. */
async function freeUdpRange(host, count, avoid) {
  for (let i = 0; i < 50; i++) {
    const start = 20_000 + Math.floor(Math.random() * (40_000 - count));
    if (avoid >= start && avoid < start + count) continue;
    let ok = true;
    for (let p = start; p < start + count && ok; p++) ok = await udpFree(host, p);
    if (ok) return [start, start + count - 1];
  }
  throw new Error('coturn: no free run of relay ports');
}

function udpFree(host, port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => { s.close(); resolve(false); });
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
}

function stopProcessGroup(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    try { process.kill(-child.pid, 'SIGTERM'); } catch { resolve(); }
    setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 3000).unref();
  });
}
