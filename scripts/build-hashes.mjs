#!/usr/bin/env node
// Release hashes: what a deployment serves and what npm ships, file by file, so anyone can
// rebuild them from the source and compare. `make release-hashes` builds first (the
// production package, scripts/package-client.sh --release-only) and then runs this.
//
//   node scripts/build-hashes.mjs [--signaling-url wss://signal.example] [--out target/release]
//                                 [--package client-wasm/pkg] [--json]
//
// Writes into --out: npm/ (the npm package's files), the tarball `npm pack` makes of them,
// www/ (the deployable page, scripts/build-www.mjs, with --signaling-url if given) and
// SHA256SUMS, one `<sha256>  <path>` line per file, sorted by path (check it with
// `cd target/release && sha256sum -c SHA256SUMS`). Prints the same lines, the manifest hash
// (SHA-256 of SHA256SUMS) and the tool versions the bytes depend on.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, buildWww, canonicalSignalingUrl, listFiles } from './build-www.mjs';

export const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** `<sha256>  <path>\n` lines for `files` (relative to `dir`), sorted by path. */
export function manifestOf(dir, files) {
  return [...files]
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((f) => `${sha256(readFileSync(path.join(dir, f)))}  ${f}\n`)
    .join('');
}

/** The versions of everything that turns the source into these bytes. */
export function toolchain() {
  const run = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')[0];
    } catch {
      return 'missing';
    }
  };
  return {
    rustc: run('rustc', ['--version']),
    'wasm-bindgen': run('wasm-bindgen', ['--version']),
    'wasm-opt': run(path.join(ROOT, 'node_modules/.bin/wasm-opt'), ['--version']),
    npm: run('npm', ['--version']),
  };
}

/** npm pack of `packageDir` into `dest`; returns the tarball's file name. */
function npmPack(packageDir, dest) {
  const out = execFileSync('npm', ['pack', packageDir, '--pack-destination', dest, '--json', '--silent'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' } });
  const [info] = JSON.parse(out);
  return info.filename;
}

export function buildRelease({ out = path.join(ROOT, 'target/release'), signalingUrl = '', packageDir = path.join(ROOT, 'client-wasm/pkg') } = {}) {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const packageFiles = listFiles(packageDir);
  if (!packageFiles.includes('sotto.js')) throw new Error(`${packageDir} has no sotto.js: run \`make client\` first`);
  cpSync(packageDir, path.join(out, 'npm'), { recursive: true });
  const tarball = npmPack(path.join(out, 'npm'), out);
  const wwwFiles = buildWww({ out: path.join(out, 'www'), signalingUrl, packageDir });
  const files = [...packageFiles.map((f) => `npm/${f}`), tarball, ...wwwFiles.map((f) => `www/${f}`)];
  const manifest = manifestOf(out, files);
  writeFileSync(path.join(out, 'SHA256SUMS'), manifest);
  return { out, manifest, manifestHash: sha256(manifest), tarball, files };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const o = {};
    let json = false;
    const argv = process.argv.slice(2);
    for (let i = 0; i < argv.length; i++) {
      const [flag, inline] = argv[i].split(/=(.*)/s);
      const value = () => inline ?? argv[++i];
      if (flag === '--out') o.out = path.resolve(value());
      else if (flag === '--signaling-url') o.signalingUrl = value();
      else if (flag === '--package') o.packageDir = path.resolve(value());
      else if (flag === '--json') json = true;
      else throw new Error(`unknown argument ${argv[i]} (see the comment at the top of scripts/build-hashes.mjs)`);
    }
    const release = buildRelease(o);
    const tools = toolchain();
    if (json) {
      console.log(JSON.stringify({ manifestHash: release.manifestHash, tarball: release.tarball, toolchain: tools, files: Object.fromEntries(release.manifest.trim().split('\n').map((l) => l.split('  ').reverse())) }, null, 2));
    } else {
      console.log(`# Sotto release hashes (SHA-256), ${path.relative(process.cwd(), release.out) || '.'}/SHA256SUMS`);
      console.log(`# signaling: ${o.signalingUrl ? canonicalSignalingUrl(o.signalingUrl) : "the page's own origin"}`);
      for (const [k, v] of Object.entries(tools)) console.log(`# ${k}: ${v}`);
      process.stdout.write(release.manifest);
      console.log(`manifest ${release.manifestHash}`);
    }
  } catch (error) {
    console.error(`build-hashes: ${error.message}`);
    process.exit(1);
  }
}
