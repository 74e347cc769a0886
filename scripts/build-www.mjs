#!/usr/bin/env node
// Assembles the deployable page: a plain folder of static files (index.html, app.js,
// app.css, ... from www/, and pkg/ with the client's JavaScript and wasm from the production
// npm package, client-wasm/pkg, made by `make client`). Serve it from any static host.
//
//   node scripts/build-www.mjs [--out target/www-dist] [--signaling-url wss://signal.example]
//                              [--package client-wasm/pkg] [--www www]
//
// --signaling-url: where the signaling worker is, when it is not the page's own origin. It is
// written into index.html at build time (never read from the page's URL): the
// `<meta name="sotto-signaling-url">` the demo reads, and the Content-Security-Policy's
// connect-src, which then allows that origin's WebSocket (ws/wss) and HTTP(S) (for
// /api/turn-credentials) besides 'self'. Without it the page talks to its own origin.
//
// Deterministic: the same inputs give the same bytes (nothing depends on time, order of the
// directory listing or the machine), so scripts/build-hashes.mjs and
// scripts/verify-deployment.mjs can compare builds file by file.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SIGNALING_META = 'sotto-signaling-url';

// The client files the page loads; the package's README, package.json and .d.ts are not served.
const PACKAGE_FILES = /\.(js|wasm)$/;

/**
 * Checks a signaling URL and returns its canonical origin form (`wss://host[:port]`).
 * Only ws:/wss:, no credentials, path, query or fragment: it goes into an HTML attribute and
 * the page's CSP.
 */
export function canonicalSignalingUrl(text) {
  let url;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`signaling URL ${JSON.stringify(text)} does not parse`);
  }
  if (url.protocol !== 'wss:' && url.protocol !== 'ws:') throw new Error(`signaling URL ${JSON.stringify(text)}: must be ws:// or wss://`);
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw new Error(`signaling URL ${JSON.stringify(text)}: only scheme, host and port (no path, query, fragment or credentials)`);
  }
  if (!/^[a-z0-9.:[\]-]+$/i.test(url.host)) throw new Error(`signaling URL ${JSON.stringify(text)}: unexpected characters in the host`);
  return `${url.protocol}//${url.host}`;
}

/** index.html with the signaling URL set (meta and CSP); unchanged when `signalingUrl` is empty. */
export function configureIndex(html, signalingUrl) {
  const metaPattern = new RegExp(`<meta name="${SIGNALING_META}" content="">`);
  if (!metaPattern.test(html)) throw new Error(`www/index.html has no <meta name="${SIGNALING_META}" content=""> to fill`);
  if (!signalingUrl) return html;
  const ws = canonicalSignalingUrl(signalingUrl);
  const http = ws.replace(/^ws/, 'http');
  const cspPattern = /(<meta http-equiv="Content-Security-Policy" content="[^"]*connect-src 'self')([;"])/;
  if (!cspPattern.test(html)) throw new Error("www/index.html: no Content-Security-Policy meta with \"connect-src 'self'\" to extend");
  return html
    .replace(metaPattern, `<meta name="${SIGNALING_META}" content="${ws}">`)
    .replace(cspPattern, `$1 ${ws} ${http}$2`);
}

/** Regular files under `dir` (relative paths with '/', sorted bytewise), skipping dotfiles. */
export function listFiles(dir, prefix = '') {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue;
    const full = path.join(dir, name);
    const rel = prefix ? `${prefix}/${name}` : name;
    const stat = statSync(full);
    if (stat.isDirectory()) out.push(...listFiles(full, rel));
    else if (stat.isFile()) out.push(rel);
  }
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Builds the folder; returns the sorted list of relative paths written.
 * @param {{out: string, signalingUrl?: string, packageDir?: string, wwwDir?: string}} o
 */
export function buildWww({ out, signalingUrl = '', packageDir = path.join(ROOT, 'client-wasm/pkg'), wwwDir = path.join(ROOT, 'www') }) {
  const packageFiles = listFiles(packageDir).filter((f) => !f.includes('/') && PACKAGE_FILES.test(f));
  for (const needed of ['sotto.js', 'sotto-worker.js']) {
    if (!packageFiles.includes(needed)) throw new Error(`${packageDir} has no ${needed}: run \`make client\` first`);
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const written = [];
  for (const rel of listFiles(wwwDir)) {
    if (rel === 'pkg' || rel.startsWith('pkg/')) continue; // the demo's own copy: taken from the package below
    const target = path.join(out, rel);
    mkdirSync(path.dirname(target), { recursive: true });
    if (rel === 'index.html') writeFileSync(target, configureIndex(readFileSync(path.join(wwwDir, rel), 'utf8'), signalingUrl));
    else copyFileSync(path.join(wwwDir, rel), target);
    written.push(rel);
  }
  if (!written.includes('index.html')) throw new Error(`${wwwDir} has no index.html`);
  mkdirSync(path.join(out, 'pkg'), { recursive: true });
  for (const name of packageFiles) {
    copyFileSync(path.join(packageDir, name), path.join(out, 'pkg', name));
    written.push(`pkg/${name}`);
  }
  return written.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function parseArgs(argv) {
  const o = { out: path.join(ROOT, 'target/www-dist') };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s);
    const value = () => inline ?? argv[++i];
    if (flag === '--out') o.out = path.resolve(value());
    else if (flag === '--signaling-url') o.signalingUrl = value();
    else if (flag === '--package') o.packageDir = path.resolve(value());
    else if (flag === '--www') o.wwwDir = path.resolve(value());
    else throw new Error(`unknown argument ${argv[i]} (see the comment at the top of scripts/build-www.mjs)`);
  }
  return o;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const o = parseArgs(process.argv.slice(2));
    const files = buildWww(o);
    const where = o.signalingUrl ? canonicalSignalingUrl(o.signalingUrl) : "the page's own origin";
    console.log(`www: ${files.length} files in ${path.relative(process.cwd(), o.out) || '.'} (signaling: ${where})`);
  } catch (error) {
    console.error(`build-www: ${error.message}`);
    process.exit(1);
  }
}
