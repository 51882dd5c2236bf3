#!/usr/bin/env bash
# End-to-end tests against a real server: a fresh PostgreSQL database, `demo`, the simulator and `serve` on
# free ports (scripts/with-server.sh), then the Playwright tests (Debian's chromium), then everything is
# stopped and the database dropped.
# Needs: PostgreSQL (WAB_E2E_PG, default postgresql://postgres@127.0.0.1), /usr/bin/chromium (or CHROMIUM),
# the Python venv at ../.venv (or WAB_BIN), a built web app (make web-build).
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/with-server.sh npx playwright test --config e2e/playwright.config.ts "$@"
