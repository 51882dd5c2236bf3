#!/usr/bin/env bash
# Runs a command against a real server: a fresh PostgreSQL database, `demo`, the simulator and `serve` on free
# ports; afterwards everything is stopped and the database dropped. Used by e2e/run.sh and perf/run.mjs.
#   bash scripts/with-server.sh COMMAND [ARGS...]
# The command sees E2E_BASE_URL, E2E_LOGIN_URL, E2E_SIM_URL, E2E_USER_DATA (an empty directory for a browser
# profile), E2E_DATABASE_URL (for psql) and CHROMIUM; the server's log is in $E2E_TMP/serve.log.
# Needs: PostgreSQL (WAB_E2E_PG, default postgresql://postgres@127.0.0.1), /usr/bin/chromium (or CHROMIUM),
# the Python venv at ../.venv (or WAB_BIN), a built web app (make web-build).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(cd .. && pwd)
BIN=${WAB_BIN:-$ROOT/.venv/bin}
PG=${WAB_E2E_PG:-postgresql://postgres@127.0.0.1}
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

[ $# -gt 0 ] || { echo "usage: with-server.sh COMMAND [ARGS...]" >&2; exit 2; }
[ -x "$BIN/whatsapp-builder" ] || { echo "with-server: $BIN/whatsapp-builder not found (make run installs it)" >&2; exit 1; }
[ -x "$CHROMIUM" ] || { echo "with-server: $CHROMIUM not found: apt-get install chromium" >&2; exit 1; }
[ -f "$ROOT/src/whatsapp_builder/webui/index.html" ] || { echo "with-server: build the web app first (make web-build)" >&2; exit 1; }

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
curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null || { echo "with-server: the server did not start" >&2; cat "$TMP/serve.log" >&2; exit 1; }

LOGIN_URL=$(grep -o 'http://[^ ]*/login#token=[^ ]*' "$TMP/serve.log" | head -1)
[ -n "$LOGIN_URL" ] || { echo "with-server: serve printed no sign-in link" >&2; cat "$TMP/serve.log" >&2; exit 1; }

export E2E_BASE_URL="http://127.0.0.1:$PORT"
export E2E_LOGIN_URL="$LOGIN_URL"
export E2E_SIM_URL="http://127.0.0.1:$SIM_PORT"
export E2E_USER_DATA="$TMP/chrome"
export E2E_DATABASE_URL="$DATABASE_URL"
export E2E_TMP="$TMP"
set +e
"$@"
rc=$?
set -e
if [ $rc -ne 0 ]; then echo "--- serve.log (tail) ---"; tail -40 "$TMP/serve.log"; fi
exit $rc
