#!/usr/bin/env bash
# Builds the contacts module (sotto-contacts-wasm: identity, contact links, presence ids,
# sealed rings; issue 16) as its own wasm -- neither the call core nor the crypto Worker's
# module links it -- and adds it to the packages scripts/package-client.sh made: the npm
# package (client-wasm/pkg), the demo's copy (www/pkg) and the test builds (target/pkg-testing,
# target/www-testing/pkg). Its JavaScript (client-wasm/js/sotto-contacts.js, .d.ts) is copied
# with the client's by package-client.sh. Run after it (the Makefile's client target does).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS=--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo}"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS
wasm="${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release/sotto_contacts_wasm.wasm"
cargo build -p sotto-contacts-wasm --target wasm32-unknown-unknown --release
out="target/pkg-contacts"
rm -rf "$out"
mkdir -p "$out"
wasm-bindgen --target web --out-dir "$out" "$wasm"
node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals "$out/sotto_contacts_wasm_bg.wasm" -o "$out/sotto_contacts_wasm_bg.wasm"
for dir in client-wasm/pkg www/pkg target/pkg-testing target/www-testing/pkg; do
  if [ -d "$dir" ]; then cp "$out"/sotto_contacts_wasm* "$dir/"; fi
done
echo "contacts module: $(wc -c < "$out/sotto_contacts_wasm_bg.wasm") bytes of wasm ($out, copied into the packages)"
