#!/usr/bin/env bash
# Builds the client's two wasm modules -- the call core for the page (sotto-call-wasm, no
# crypto) and the crypto Worker's (sotto-client-wasm) -- and packages them twice:
#   production  wasm without the `testing` cargo feature, JavaScript with every
#               `// #if testing` ... `// #endif` block removed -> client-wasm/pkg (the npm
#               package) and www/pkg (the demo's copy);
#   test build  wasm with `--features testing`, JavaScript as written -> target/pkg-testing,
#               and a copy of the demo using it -> target/www-testing (what the e2e suite serves).
# The production JavaScript is checked for test hooks before it is written out.
#
#   scripts/package-client.sh                 both
#   scripts/package-client.sh --release-only  production only (scripts/build-hashes.mjs)
#
# Reproducible: the wasm modules carry no path of this machine. rustc writes source paths
# into panic locations; the workspace's are relative, the registry's are under $CARGO_HOME,
# remapped to /cargo here (the Makefile exports the same flags for every wasm32 build, so
# that the worker's build and this one share their compiled dependencies). What else must
# match for identical bytes: rustc, wasm-bindgen (setup.sh pins it) and binaryen
# (package-lock.json pins it). scripts/build-hashes.mjs prints them with the hashes.
set -euo pipefail
cd "$(dirname "$0")/.."
release_only=false
[ "${1:-}" = --release-only ] && release_only=true
: "${CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS=--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo}"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS

wasm_dir="${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release"
target_wasm="$wasm_dir/sotto_client_wasm.wasm"
core_wasm="$wasm_dir/sotto_call_wasm.wasm"
cargo_build=(cargo build -p sotto-client-wasm --target wasm32-unknown-unknown --release)

# Names that exist only for tests; none may reach the production package.
test_only_names='exportKeysForTesting|installSenderKeyForTesting|testAttack|testCapture|testCaptured|testDecryptWith|testAudioSizes|sottoTestOptions|testUnsafe|testSealedLog|testCandidatesAdded|testPeerId'

# The crate has a `testing` feature once the wasm bridge gates its test hooks behind it.
has_testing_feature() {
  awk '/^\[features\]/{f=1; next} /^\[/{f=0} f && /^[[:space:]]*testing[[:space:]]*=/{found=1} END{exit !found}' client-wasm/Cargo.toml
}

# Copies one JavaScript file, removing `// #if testing` ... `// #endif` blocks (whole lines).
# Unbalanced or nested markers fail the build.
strip_testing() {
  awk -v file="$1" '
    /^[[:space:]]*\/\/ #if testing[[:space:]]*$/ { if (skip) { print file ": nested #if testing at line " NR > "/dev/stderr"; exit 2 } skip = 1; next }
    /^[[:space:]]*\/\/ #endif[[:space:]]*$/ { if (!skip) { print file ": #endif without #if at line " NR > "/dev/stderr"; exit 2 } skip = 0; next }
    !skip { print }
    END { if (skip) { print file ": #if testing never closed" > "/dev/stderr"; exit 2 } }
  ' "$1" > "$2"
}

bindgen_and_optimise() { # <wasm> <out dir>
  local bg
  bg="$2/$(basename "$1" .wasm)_bg.wasm"
  wasm-bindgen --target web --out-dir "$2" "$1"
  node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals "$bg" -o "$bg"
}

copy_package_files() { # <out dir>
  [ -f client-wasm/js/sotto.d.ts ] && cp client-wasm/js/*.d.ts "$1/"
  [ -f client-wasm/package.json ] && cp client-wasm/package.json "$1/"
  cp client-wasm/README.md "$1/"
}

# ── production ─────────────────────────────────────────────────────────────
# The call core has no test build: the same module serves both.
cargo build -p sotto-call-wasm --target wasm32-unknown-unknown --release
core_out="target/pkg-core"
rm -rf "$core_out"
mkdir -p "$core_out"
bindgen_and_optimise "$core_wasm" "$core_out"
"${cargo_build[@]}"
out="client-wasm/pkg"
rm -rf "$out"
mkdir -p "$out"
bindgen_and_optimise "$target_wasm" "$out"
cp "$core_out"/sotto_call_wasm* "$out/"
for js in client-wasm/js/*.js; do strip_testing "$js" "$out/$(basename "$js")"; done
if grep -nE "$test_only_names" "$out"/sotto.js "$out"/sotto-worker.js; then
  echo "package-client: test hooks left in the production JavaScript (above)" >&2
  exit 1
fi
if has_testing_feature && grep -qaE "$test_only_names" "$out"/sotto_client_wasm_bg.wasm "$out"/sotto_client_wasm.js "$out"/sotto_call_wasm_bg.wasm "$out"/sotto_call_wasm.js; then
  echo "package-client: test hooks left in the production wasm" >&2
  exit 1
fi
copy_package_files "$out"
rm -rf www/pkg
cp -r "$out" www/pkg
echo "client package: $out ($(wc -c < "$out/sotto_call_wasm_bg.wasm") bytes of call-core wasm, $(wc -c < "$out/sotto_client_wasm_bg.wasm") bytes of crypto wasm)"

# ── test build ─────────────────────────────────────────────────────────────
if $release_only; then exit 0; fi
testing_out="target/pkg-testing"
features=()
if has_testing_feature; then
  features=(--features testing)
else
  echo "package-client: client-wasm has no 'testing' feature yet; the test build uses the default wasm" >&2
fi
"${cargo_build[@]}" "${features[@]}"
rm -rf "$testing_out"
mkdir -p "$testing_out"
bindgen_and_optimise "$target_wasm" "$testing_out"
cp "$core_out"/sotto_call_wasm* "$testing_out/"
cp client-wasm/js/*.js "$testing_out/"
copy_package_files "$testing_out"
# Made beside and swapped in, so that an e2e run serving the old copy (another checkout's
# `make test` on the same machine) loses it only for the instant of two renames.
www_testing="target/www-testing"
staging="$(mktemp -d target/www-testing.XXXXXX)"
for entry in www/*; do [ "$(basename "$entry")" = pkg ] || cp -r "$entry" "$staging/"; done
cp -r "$testing_out" "$staging/pkg"
chmod 755 "$staging"
if [ -d "$www_testing" ]; then mv "$www_testing" "$staging.old"; fi
mv "$staging" "$www_testing"
rm -rf "$staging.old"
echo "test build: $testing_out and $www_testing (wasm features: ${features[*]:-none})"
