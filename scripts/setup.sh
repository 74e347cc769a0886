#!/usr/bin/env bash
# Installs everything Sotto's build and tests need on a fresh Debian machine with rustup,
# Node 20 and npm. Idempotent: a second run only checks versions.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.129   # must equal the wasm-bindgen pin in Cargo.toml / Cargo.lock
WORKER_BUILD_VERSION=0.8.7

say() { printf '[setup] %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    rustup component add "$component"
  fi
done

installed_version() { "$1" --version 2>/dev/null | awk '{print $NF}' || true; }

if [ "$(installed_version wasm-bindgen)" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --locked --quiet
fi
if [ "$(installed_version worker-build)" != "$WORKER_BUILD_VERSION" ]; then
  say "installing worker-build $WORKER_BUILD_VERSION (a few minutes)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked --quiet
fi

if [ ! -x node_modules/.bin/wrangler ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages from package-lock.json"
  # Not `npm ci`: npm 11 rejects this lockfile for lacking entries for rollup's optional
  # per-platform packages (which it never installs here); `npm install` honours the pinned
  # versions in package-lock.json all the same.
  npm install --no-audit --no-fund --loglevel=error
fi

if [ ! -x /usr/bin/chromium ]; then
  say "installing Debian's chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
fi
# firefox-esr: the e2e suite's second browser (e2e/firefox.test.mjs), driven headless by npm
# puppeteer-core over WebDriver BiDi (no geckodriver).
if [ ! -x /usr/bin/firefox-esr ]; then
  say "installing Debian's firefox-esr"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq firefox-esr >/dev/null
fi
# coturn: the TURN relay the relay-only mode's e2e test starts inside its network namespace
# (e2e/lib/coturn.mjs) and `make demo RELAY=1` starts beside the worker. Only the binary is
# used: the package's system service stays disabled (Debian does not start it by default).
if ! command -v turnserver >/dev/null 2>&1 && [ ! -x /usr/bin/turnserver ]; then
  say "installing Debian's coturn"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq coturn >/dev/null
fi
# sqlite3: signaling-worker/tests/mailbox.test.mjs reads the Mailbox Durable Objects' SQLite
# rows (a copy) to check that delivered and expired messages are deleted from storage.
if ! command -v sqlite3 >/dev/null 2>&1; then
  say "installing Debian's sqlite3"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq sqlite3 >/dev/null
fi
say "ready: $(wasm-bindgen --version), $(worker-build --version 2>/dev/null || echo worker-build), $(node --version), $(/usr/bin/chromium --version 2>/dev/null | tail -n 1), $(/usr/bin/firefox-esr --version 2>/dev/null || echo firefox-esr), coturn $(/usr/bin/turnserver --version 2>/dev/null | head -n 1 || echo '?')"
