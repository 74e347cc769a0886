#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60), in parallel, and prints exec counts.
# Needs cargo-fuzz; uses the nightly toolchain if installed, otherwise RUSTC_BOOTSTRAP=1 on stable.
set -euo pipefail
SECONDS_PER_TARGET="${1:-60}"
cd "$(dirname "$0")"
TOOLCHAIN=()
if rustup toolchain list | grep -q nightly; then TOOLCHAIN=(+nightly); else export RUSTC_BOOTSTRAP=1; fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/tgt-protocol-fuzz}"
TARGETS=$(cargo "${TOOLCHAIN[@]}" fuzz list)
for t in $TARGETS; do cargo "${TOOLCHAIN[@]}" fuzz build "$t"; done
mkdir -p logs
for t in $TARGETS; do
  mkdir -p "corpus/$t"
  cargo "${TOOLCHAIN[@]}" fuzz run "$t" "corpus/$t" -- -max_total_time="$SECONDS_PER_TARGET" -max_len=70000 \
    > "logs/$t.log" 2>&1 &
done
status=0
wait || status=$?
for t in $TARGETS; do
  line=$(grep -E "^(#[0-9]+|Done)" "logs/$t.log" | tail -1 || true)
  if grep -qE "panicked|ERROR: libFuzzer|SUMMARY: AddressSanitizer" "logs/$t.log"; then
    echo "$t: FAILED ($line)"; status=1
  else
    echo "$t: ok ($line)"
  fi
done
exit $status
