#!/usr/bin/env bash
# Integration tests against the real worker on local workerd (`wrangler dev`), inside a
# loopback-only network namespace. Build first (README.md). Usage:
#   tests/run.sh            node --test tests/*.test.mjs (short timeouts, MAX_PEERS=4, test TURN secret,
#                           2 s mailbox retention; SOTTO_STATE_DIR is the worker's storage folder)
#   tests/run.sh load [N M K] tests/load.mjs: N clients in M rooms, K messages each (default limits)
#   tests/run.sh script F   any node script F against the same worker setup
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
WORKER=$(cd "$HERE/.." && pwd)
ROOT=$(cd "$WORKER/.." && pwd)
if [ -z "${SOTTO_IN_NETNS:-}" ]; then
  exec unshare -n env SOTTO_IN_NETNS=1 "$0" "$@"
fi
ip link set lo up
[ -f "$WORKER/build/index.js" ] || { echo "run.sh: build the worker first (worker-build --release)" >&2; exit 1; }

MODE=${1:-test}
PORT=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
TMP=$(mktemp -d)
SECRET=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
ENVFILE="$TMP/test.env"
if [ "$MODE" = load ]; then
  : > "$ENVFILE"
else
  # A throwaway secret for this run only; never committed.
  cat > "$ENVFILE" <<VARS
TURN_SECRET=$SECRET
TURN_URLS=turn:127.0.0.1:3478?transport=udp,turns:127.0.0.1:5349
TURN_TTL_SECONDS=600
MAX_PEERS=4
JOIN_TIMEOUT_MS=1500
IDLE_TIMEOUT_MS=3000
MAILBOX_RETENTION_MS=2000
VARS
fi

cd "$WORKER"
setsid "$ROOT/node_modules/.bin/wrangler" dev --ip 127.0.0.1 --port "$PORT" --persist-to "$TMP/state" \
  --env-file "$ENVFILE" --show-interactive-dev-session=false --log-level warn \
  > "$TMP/wrangler.log" 2>&1 < /dev/null &
WRANGLER=$!
stop() {
  kill -TERM -- "-$WRANGLER" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$WRANGLER" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$WRANGLER" 2>/dev/null || true
  rm -rf "$TMP"
}
trap stop EXIT

for i in $(seq 1 300); do
  if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then break; fi
  if ! kill -0 "$WRANGLER" 2>/dev/null; then cat "$TMP/wrangler.log" >&2; exit 1; fi
  if [ "$i" = 300 ]; then echo "wrangler dev not ready in 60 s" >&2; cat "$TMP/wrangler.log" >&2; exit 1; fi
  sleep 0.2
done

export SOTTO_ORIGIN="http://127.0.0.1:$PORT"
if [ "$MODE" = load ]; then
  node "$HERE/load.mjs" "${2:-1000}" "${3:-200}" "${4:-20}"
elif [ "$MODE" = script ]; then
  SOTTO_STATE_DIR="$TMP/state" node "$2"
else
  SOTTO_STATE_DIR="$TMP/state" SOTTO_MAILBOX_RETENTION_MS=2000 \
  SOTTO_TURN_SECRET="$SECRET" SOTTO_MAX_PEERS=4 SOTTO_JOIN_TIMEOUT_MS=1500 SOTTO_IDLE_TIMEOUT_MS=3000 \
    node --test --test-concurrency=1 --test-timeout=60000 "$HERE"/*.test.mjs
fi
