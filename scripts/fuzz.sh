#!/usr/bin/env bash
# Runs every cargo-fuzz target of one fuzz crate for SECONDS each, in parallel, and prints
# the execution counts. Not part of `make test`.
#   scripts/fuzz.sh FUZZ_DIR [SECONDS=60] [MAX_LEN=4096]
# Needs cargo-fuzz; uses the nightly toolchain if installed, otherwise RUSTC_BOOTSTRAP=1.
set -euo pipefail
FUZZ_DIR="$1"
SECONDS_PER_TARGET="${2:-60}"
MAX_LEN="${3:-4096}"
cd "$FUZZ_DIR"
TOOLCHAIN=()
if rustup toolchain list | grep -q nightly; then TOOLCHAIN=(+nightly); else export RUSTC_BOOTSTRAP=1; fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/tgt-fuzz-$(basename "$(dirname "$PWD")")}"
TARGETS=$(cargo "${TOOLCHAIN[@]}" fuzz list)
for t in $TARGETS; do cargo "${TOOLCHAIN[@]}" fuzz build "$t"; done
mkdir -p logs
for t in $TARGETS; do
  mkdir -p "corpus/$t"
  cargo "${TOOLCHAIN[@]}" fuzz run "$t" "corpus/$t" -- -max_total_time="$SECONDS_PER_TARGET" -max_len="$MAX_LEN" \
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
