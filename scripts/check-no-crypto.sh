#!/usr/bin/env bash
# The modules that must hold no key must not be able to: fails if `cargo tree` shows any
# crypto crate among the normal (non-dev, non-build) dependencies of a package, for any
# target. Default packages: the page's call core (sotto-call-wasm, which keys never enter:
# they live in the crypto Worker's module) and the signaling worker (the server, which must
# never be able to open what it relays).
#   scripts/check-no-crypto.sh [package ...]
# Exit 0: none found; 1: found (listed); 2: cargo tree failed.
set -euo pipefail
cd "$(dirname "$0")/.."

forbidden='hpke|aes|aes-gcm|ghash|polyval|sframe|x25519-dalek|curve25519-dalek|sha2|hkdf|hmac|sotto-e2ee'
if [ "$#" -eq 0 ]; then set -- sotto-call-wasm sotto-signaling-worker; fi

status=0
for package in "$@"; do
  if ! tree=$(cargo tree -p "$package" -e normal --target all --prefix none --no-dedupe 2>&1); then
    printf '%s\n' "$tree" >&2
    echo "check-no-crypto: cargo tree failed for $package" >&2
    exit 2
  fi
  crates=$(printf '%s\n' "$tree" | awk 'NF { print $1 }' | sort -u)
  found=$(printf '%s\n' "$crates" | grep -xE "$forbidden" || true)
  if [ -n "$found" ]; then
    echo "check-no-crypto: $package links crypto crates: $(echo $found)" >&2
    status=1
  else
    echo "check-no-crypto: $package links none of the crypto crates ($(printf '%s\n' "$crates" | wc -l) crates checked)"
  fi
done
exit "$status"
