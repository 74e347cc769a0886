#!/usr/bin/env bash
# Runs every e2ee fuzz target for SECONDS (default 60), in parallel: frames, headers, key
# messages, chat, sealed envelopes and sealed identities up to 4 KiB.
exec "$(dirname "$0")/../../scripts/fuzz.sh" "$(dirname "$0")" "${1:-60}" 4096
