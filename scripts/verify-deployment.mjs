#!/usr/bin/env node
// Checks that a deployment serves exactly the page of a release (its published SHA256SUMS) or
// of a local build from this source.
//
//   node scripts/verify-deployment.mjs <url> --sums <SHA256SUMS file or URL>
//   node scripts/verify-deployment.mjs <url> [--package client-wasm/pkg] [--www www]
//                                            [--expect <manifest hash>]
//
// With --sums: the expected files and hashes are the `<sha256>  www/<path>` lines of the
// SHA256SUMS that scripts/build-hashes.mjs (`make release-hashes`) writes and a release
// publishes; every one of them is fetched from the deployment (index.html also as <url>
// itself) and its SHA-256 compared. Nothing is built.
//
// Without --sums: build first, at the commit the deployment claims to run (`make client`).
// The check fetches the deployment's page (<url>), reads the one setting a deployment may
// choose (the signaling worker's URL, from the page's <meta name="sotto-signaling-url">),
// builds the page locally with that setting (scripts/build-www.mjs, into a temp dir), then
// fetches every file of that build from the deployment and compares SHA-256 hashes: the page
// both as <url> and <url>index.html, app.js, app.css, pkg/*.js and the wasm modules.
// `--expect` also compares the local build's manifest hash (SHA-256 of its `<sha256>  <path>`
// lines) with a published one.
//
// Prints each file's result (`ok`, `MISMATCH <file>: served <hash> ...`, `MISSING <file>`);
// exits 1 if any file differs, is missing or cannot be fetched (2 for bad arguments).
//
// What this proves and what not (SECURITY.md, "Trusting the page's code"): that the server
// gave THIS client THESE bytes at THIS moment. A browser does not run this check, and a server
// can serve other code to other people or at other times.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, SIGNALING_META, buildWww } from './build-www.mjs';

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const META = new RegExp(`<meta name="${SIGNALING_META}" content="([^"]*)">`);

function usage(message) {
  console.error(`verify-deployment: ${message}\nusage: node scripts/verify-deployment.mjs <url> [--sums SHA256SUMS] [--package dir] [--www dir] [--expect <manifest hash>]`);
  process.exit(2);
}

/** GET, following at most 5 redirects, all within the deployment's origin. */
async function get(url, origin) {
  let current = url;
  for (let hop = 0; hop <= 5; hop++) {
    const response = await fetch(current, { redirect: 'manual', cache: 'no-store', headers: { 'cache-control': 'no-cache' } });
    if (response.status >= 300 && response.status < 400 && response.headers.get('location')) {
      const next = new URL(response.headers.get('location'), current);
      if (next.origin !== origin) return { error: `redirects to another origin (${next.origin})` };
      current = next.href;
      continue;
    }
    if (!response.ok) return { error: `HTTP ${response.status}` };
    return { bytes: Buffer.from(await response.arrayBuffer()), url: current };
  }
  return { error: 'too many redirects' };
}

/** Where two texts first differ (line number and both lines, shortened), or null. */
function firstDifference(a, b) {
  const binary = (buf) => buf.subarray(0, 8000).includes(0);
  if (binary(a) || binary(b)) return null;
  const la = a.toString('utf8').split('\n');
  const lb = b.toString('utf8').split('\n');
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] !== lb[i]) {
      const cut = (s) => (s === undefined ? '(none)' : JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}…` : s));
      return `line ${i + 1}: served ${cut(la[i])}, local ${cut(lb[i])}`;
    }
  }
  return null;
}

async function main() {
  const args = process.argv.slice(2);
  let target;
  let expect;
  let sumsSource;
  let packageDir = path.join(ROOT, 'client-wasm/pkg');
  let wwwDir = path.join(ROOT, 'www');
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s);
    const value = () => inline ?? args[++i];
    if (flag === '--package') packageDir = path.resolve(value());
    else if (flag === '--www') wwwDir = path.resolve(value());
    else if (flag === '--expect') expect = value();
    else if (flag === '--sums') sumsSource = value();
    else if (flag.startsWith('--')) usage(`unknown option ${flag}`);
    else if (target) usage('one URL only');
    else target = args[i];
  }
  if (!target) usage('no URL given');
  let base;
  try {
    base = new URL(target);
  } catch {
    usage(`${target} is not a URL`);
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') usage('the URL must be http(s)');
  base.hash = '';
  base.search = '';
  if (!base.pathname.endsWith('/')) base.pathname += '/';

  const page = await get(base.href, base.origin);
  if (page.error) {
    console.log(`FAIL      ${base.href}: ${page.error}`);
    return 1;
  }
  console.log(`deployment ${base.href}`);
  let bad = 0;
  let expected; // Map: relative path -> { hash, bytes (local build only) }
  let dir = null;
  try {
    if (sumsSource) {
      let text;
      if (/^https?:\/\//.test(sumsSource)) {
        const r = await fetch(sumsSource, { cache: 'no-store' });
        if (!r.ok) throw new Error(`${sumsSource}: HTTP ${r.status}`);
        text = await r.text();
      } else {
        text = readFileSync(sumsSource, 'utf8');
      }
      expected = parseSums(text);
      console.log(`expected  ${expected.size} files of www/ in ${sumsSource} (sums ${sha256(text)})`);
    } else {
      const setting = META.exec(page.bytes.toString('utf8'))?.[1];
      let signalingUrl = '';
      if (setting === undefined) console.log(`note      the page has no <meta name="${SIGNALING_META}">: building without one (its index.html will differ)`);
      else signalingUrl = setting;
      console.log(`signaling ${signalingUrl || "the page's own origin"} (the deployment's one setting, taken from its page)`);
      dir = mkdtempSync(path.join(tmpdir(), 'sotto-verify-'));
      let files;
      try {
        files = buildWww({ out: dir, signalingUrl, packageDir, wwwDir });
      } catch (error) {
        // An invalid setting cannot come from build-www.mjs: the page is not one of ours.
        console.log(`MISMATCH  index.html: ${error.message}`);
        return 1;
      }
      expected = new Map(files.map((f) => {
        const bytes = readFileSync(path.join(dir, f));
        return [f, { hash: sha256(bytes), bytes }];
      }));
      const manifest = files.map((f) => `${expected.get(f).hash}  ${f}\n`).join('');
      const manifestHash = sha256(manifest);
      console.log(`www manifest ${manifestHash} (local build, ${files.length} files)`);
      if (expect && expect !== manifestHash) {
        bad++;
        console.log(`MISMATCH  the local build's manifest ${manifestHash} is not the expected ${expect}: this checkout or its tools differ from the release's`);
      }
    }
    if (!expected.has('index.html')) {
      console.log('MISSING   index.html: not among the expected files');
      return 1;
    }
    const checks = [{ file: 'index.html', url: base.href, shown: 'index.html (as the page itself)', fetched: page }];
    for (const file of expected.keys()) checks.push({ file, url: new URL(file, base).href, shown: file });
    for (const check of checks) {
      const want = expected.get(check.file);
      const served = check.fetched ?? await get(check.url, base.origin).catch((error) => ({ error: error.message }));
      if (served.error) {
        bad++;
        console.log(`MISSING   ${check.shown}: ${served.error}`);
        continue;
      }
      const got = sha256(served.bytes);
      if (got === want.hash) {
        console.log(`ok        ${want.hash}  ${check.shown}`);
      } else {
        bad++;
        const where = want.bytes ? firstDifference(served.bytes, want.bytes) : null;
        const size = want.bytes ? ` (${want.bytes.length} bytes)` : '';
        console.log(`MISMATCH  ${check.shown}: served ${got} (${served.bytes.length} bytes), ${sumsSource ? 'published' : 'local build'} ${want.hash}${size}${where ? `; first difference at ${where}` : ''}`);
      }
    }
    console.log(bad ? `verify-deployment: ${bad} problem(s): the deployment does NOT serve this build` : `verify-deployment: the deployment serves exactly this build (${checks.length} fetches)`);
    return bad ? 1 : 0;
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The www/ files of a SHA256SUMS (`<sha256>  <path>` per line, as scripts/build-hashes.mjs
 * writes): Map of the path under www/ to { hash }. A file of bare paths (no www/ prefix
 * anywhere) is taken as the page's files themselves.
 */
export function parseSums(text) {
  const all = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!m) throw new Error(`SHA256SUMS line ${i + 1} is not "<sha256>  <path>": ${JSON.stringify(line.slice(0, 100))}`);
    if (m[2].split('/').some((part) => part === '..' || part === '' || part === '.')) throw new Error(`SHA256SUMS line ${i + 1}: unexpected path ${JSON.stringify(m[2])}`);
    all.push([m[2], m[1]]);
  }
  const www = all.filter(([p]) => p.startsWith('www/'));
  const chosen = www.length ? www.map(([p, h]) => [p.slice(4), h]) : all;
  if (chosen.length === 0) throw new Error('SHA256SUMS lists no file');
  return new Map(chosen.map(([p, hash]) => [p, { hash }]));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((code) => process.exit(code), (error) => {
    console.error(`verify-deployment: ${error.message ?? error}`);
    process.exit(1);
  });
}
