#!/usr/bin/env bash
# The one command: bench/run.sh [--quick] [--profile] [--only a,b,...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
if [ ! -x "$PY" ]; then echo "error: no venv at .venv (run 'make test' or 'make run' once)" >&2; exit 1; fi
if ! .venv/bin/py-spy --version >/dev/null 2>&1; then
  .venv/bin/pip install --quiet -r bench/requirements.txt || echo "warning: py-spy not installed; --profile will be skipped" >&2
fi
exec "$PY" -m bench "$@"
