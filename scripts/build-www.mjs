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
// Subresource Integrity: every HTML page gets `integrity="sha384-..."` on its module script
// and stylesheet, and an import map (its hash added to the CSP's script-src) whose
// `integrity` section names the hash of every JavaScript module of the build (pkg/ and the
// page's own, vendor/ included), so the browser
// refuses any module whose bytes are not those of this build: a page's hash then commits to
// everything it loads as a module. Not covered by the browser (no SRI for them): the crypto
// Worker's script (pkg/sotto-worker.js, a Worker), what it imports (import maps do not apply
// in workers) and the .wasm modules (fetched by the glue); scripts/verify-deployment.mjs
// checks those with the rest.
//
// Deterministic: the same inputs give the same bytes (nothing depends on time, order of the
// directory listing or the machine), so scripts/build-hashes.mjs and
// scripts/verify-deployment.mjs can compare builds file by file.
import { createHash } from 'node:crypto';
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
  if (!metaPattern.test(html)) throw new Error(`the page has no <meta name="${SIGNALING_META}" content=""> to fill`);
  if (!signalingUrl) return html;
  const ws = canonicalSignalingUrl(signalingUrl);
  const http = ws.replace(/^ws/, 'http');
  const cspPattern = /(<meta http-equiv="Content-Security-Policy" content="[^"]*connect-src 'self')([;"])/;
  if (!cspPattern.test(html)) throw new Error("www/index.html: no Content-Security-Policy meta with \"connect-src 'self'\" to extend");
  return html
    .replace(metaPattern, `<meta name="${SIGNALING_META}" content="${ws}">`)
    .replace(cspPattern, `$1 ${ws} ${http}$2`);
}

export const sri = (bytes) => `sha384-${createHash('sha384').update(bytes).digest('base64')}`;

/**
 * A page with Subresource Integrity: `integrity` on each `<script type="module" src>` and
 * `<link rel="stylesheet" href>` of a file in `hashes`, and an import map whose `integrity`
 * names every module in `modules` (paths relative to the page), allowed by its SHA-256 in
 * the CSP's script-src. `hashes`: Map of relative path -> `sha384-...`.
 */
export function addIntegrity(html, hashes, modules) {
  const local = (ref) => {
    const h = hashes.get(ref.replace(/^\.\//, ''));
    if (!h) throw new Error(`the page loads ${ref}, which is not a file of the build`);
    return h;
  };
  let out = html
    .replace(/<script type="module" src="([^"]+)"><\/script>/g, (_, src) => `<script type="module" src="${src}" integrity="${local(src)}"></script>`)
    .replace(/<link rel="stylesheet" href="([^"]+)">/g, (_, href) => `<link rel="stylesheet" href="${href}" integrity="${local(href)}">`);
  const map = JSON.stringify({ integrity: Object.fromEntries(modules.map((m) => [`./${m}`, local(m)])) });
  const csp = /(<meta http-equiv="Content-Security-Policy" content="[^"]*script-src 'self')/;
  if (!csp.test(out)) throw new Error("the page has no Content-Security-Policy meta with \"script-src 'self'\" to extend");
  const mapHash = `'sha256-${createHash('sha256').update(map).digest('base64')}'`;
  const firstModule = out.indexOf('<script type="module"');
  if (firstModule < 0) throw new Error('the page has no module script');
  out = `${out.slice(0, firstModule)}<script type="importmap">${map}</script>\n  ${out.slice(firstModule)}`;
  return out.replace(csp, `$1 ${mapHash}`);
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
  const pages = [];
  for (const rel of listFiles(wwwDir)) {
    if (rel === 'pkg' || rel.startsWith('pkg/')) continue; // the demo's own copy: taken from the package below
    const target = path.join(out, rel);
    mkdirSync(path.dirname(target), { recursive: true });
    if (rel.endsWith('.html')) pages.push(rel); // written last, with the hashes of the rest
    else copyFileSync(path.join(wwwDir, rel), target);
    written.push(rel);
  }
  if (!pages.includes('index.html')) throw new Error(`${wwwDir} has no index.html`);
  mkdirSync(path.join(out, 'pkg'), { recursive: true });
  for (const name of packageFiles) {
    copyFileSync(path.join(packageDir, name), path.join(out, 'pkg', name));
    written.push(`pkg/${name}`);
  }
  const hashes = new Map(written.filter((f) => !pages.includes(f)).map((f) => [f, sri(readFileSync(path.join(out, f)))]));
  // Every JavaScript module of the build: the package's and the page's own (app.js and what it
  // imports, such as the vendored QR code module vendor/lean-qr-nano.js, which no <script src>
  // names and which would otherwise run unchecked).
  const modules = [
    ...packageFiles.filter((f) => f.endsWith('.js')).map((f) => `pkg/${f}`),
    ...written.filter((f) => !f.startsWith('pkg/') && /\.m?js$/.test(f)),
  ].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const rel of pages) {
    const html = readFileSync(path.join(wwwDir, rel), 'utf8');
    const configured = html.includes(`<meta name="${SIGNALING_META}"`) ? configureIndex(html, signalingUrl) : html;
    try {
      writeFileSync(path.join(out, rel), addIntegrity(configured, hashes, modules));
    } catch (error) {
      throw new Error(`${rel}: ${error.message}`);
    }
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
