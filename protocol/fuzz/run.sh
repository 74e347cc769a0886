#!/usr/bin/env bash
# Runs the protocol fuzz target for SECONDS (default 60): inputs up to 70,000 bytes, past
# the worker's 64 KiB message limit.
exec "$(dirname "$0")/../../scripts/fuzz.sh" "$(dirname "$0")" "${1:-60}" 70000
