#!/usr/bin/env bash
# End-to-end tests against a real server: a fresh PostgreSQL database, `demo`, the simulator and `serve` on
# free ports, then the Playwright tests (Debian's chromium), then everything is stopped and the database dropped.
# Needs: PostgreSQL (WAB_E2E_PG, default postgresql://postgres@127.0.0.1), /usr/bin/chromium (or CHROMIUM),
# the Python venv at ../.venv (or WAB_BIN), a built web app (make web-build).
set -euo pipefail
cd "$(dirname "$0")/.."
WEB=$(pwd)
ROOT=$(cd .. && pwd)
BIN=${WAB_BIN:-$ROOT/.venv/bin}
PG=${WAB_E2E_PG:-postgresql://postgres@127.0.0.1}
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

[ -x "$BIN/whatsapp-builder" ] || { echo "e2e: $BIN/whatsapp-builder not found (make run installs it)" >&2; exit 1; }
[ -x "$CHROMIUM" ] || { echo "e2e: $CHROMIUM not found: apt-get install chromium" >&2; exit 1; }
[ -f "$ROOT/src/whatsapp_builder/webui/index.html" ] || { echo "e2e: build the web app first (make web-build)" >&2; exit 1; }

free_port() { "$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
PORT=$(free_port)
SIM_PORT=$(free_port)
DB="wab_e2e_$$_$RANDOM"
TMP=$(mktemp -d)
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql "$PG/postgres" -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

psql "$PG/postgres" -q -c "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="$PG/$DB"
export WAB_DATA_DIR="$TMP/data"

"$BIN/whatsapp-builder" demo --simulator-url "http://127.0.0.1:$SIM_PORT" >"$TMP/demo.log" 2>&1
"$BIN/whatsapp-builder" simulator --host 127.0.0.1 --port "$SIM_PORT" \
  --webhook-url "http://127.0.0.1:$PORT/webhooks/whatsapp" >"$TMP/simulator.log" 2>&1 &
PIDS+=($!)
"$BIN/whatsapp-builder" serve --host 127.0.0.1 --port "$PORT" >"$TMP/serve.log" 2>&1 &
PIDS+=($!)

for _ in $(seq 1 120); do
  if curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && curl -fs "http://127.0.0.1:$SIM_PORT/_simulator/health" >/dev/null 2>&1; then break; fi
  sleep 0.5
done
curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null || { echo "e2e: the server did not start" >&2; cat "$TMP/serve.log" >&2; exit 1; }

LOGIN_URL=$(grep -o 'http://[^ ]*/login#token=[^ ]*' "$TMP/serve.log" | head -1)
[ -n "$LOGIN_URL" ] || { echo "e2e: serve printed no sign-in link" >&2; cat "$TMP/serve.log" >&2; exit 1; }

export E2E_BASE_URL="http://127.0.0.1:$PORT"
export E2E_LOGIN_URL="$LOGIN_URL"
export E2E_SIM_URL="http://127.0.0.1:$SIM_PORT"
export E2E_USER_DATA="$TMP/chrome"
set +e
npx playwright test --config e2e/playwright.config.ts "$@"
rc=$?
set -e
if [ $rc -ne 0 ]; then echo "--- serve.log (tail) ---"; tail -40 "$TMP/serve.log"; fi
exit $rc
