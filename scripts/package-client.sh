#!/usr/bin/env bash
# Turns the compiled client wasm into the npm package folder client-wasm/pkg and copies it
# into the demo's www/pkg. Run after `cargo build -p sotto-client-wasm --target wasm32-unknown-unknown --release`.
set -euo pipefail
cd "$(dirname "$0")/.."
wasm="target/wasm32-unknown-unknown/release/sotto_client_wasm.wasm"
out="client-wasm/pkg"
rm -rf "$out"
mkdir -p "$out"
wasm-bindgen --target web --out-dir "$out" "$wasm"
node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals "$out/sotto_client_wasm_bg.wasm" -o "$out/sotto_client_wasm_bg.wasm"
cp client-wasm/js/*.js "$out/"
[ -f client-wasm/js/sotto.d.ts ] && cp client-wasm/js/*.d.ts "$out/"
[ -f client-wasm/package.json ] && cp client-wasm/package.json "$out/"
cp client-wasm/README.md "$out/"
rm -rf www/pkg
cp -r "$out" www/pkg
echo "client package: $out ($(wc -c < "$out/sotto_client_wasm_bg.wasm") bytes of wasm)"
