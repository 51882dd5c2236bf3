# The web app (web/): install, build, test. Included by the Makefile.
WEB_DIR := web
WEB_NODE_MODULES := $(WEB_DIR)/node_modules/.package-lock.json
WEB_STAMP := $(WEB_DIR)/.build-stamp
WEB_SOURCES := $(shell find $(WEB_DIR)/src $(WEB_DIR)/index.html $(WEB_DIR)/vite.config.ts $(WEB_DIR)/tsconfig.json $(WEB_DIR)/postcss.config.cjs $(WEB_DIR)/package-lock.json -type f 2>/dev/null)
WEB_NEED_NPM = @command -v npm >/dev/null 2>&1 || { echo "Node.js 20+ and npm are needed to build the web UI: apt-get install nodejs npm" >&2; exit 1; }

.PHONY: web-install web-build web-test web-e2e web-check-api web-browser web-perf

# npm ci only when package-lock.json is newer than the installed node_modules.
$(WEB_NODE_MODULES): $(WEB_DIR)/package-lock.json
	$(WEB_NEED_NPM)
	cd $(WEB_DIR) && npm ci --no-audit --no-fund
	@touch $@

web-install:
	$(WEB_NEED_NPM)
	@$(MAKE) --no-print-directory $(WEB_NODE_MODULES)

# Builds into src/whatsapp_builder/webui/ only when a source changed (or the output is missing).
$(WEB_STAMP): $(WEB_NODE_MODULES) $(WEB_SOURCES)
	$(WEB_NEED_NPM)
	cd $(WEB_DIR) && npm run build
	@touch $@

web-build:
	$(WEB_NEED_NPM)
	@test -f src/whatsapp_builder/webui/index.html || rm -f $(WEB_STAMP)
	@$(MAKE) --no-print-directory $(WEB_STAMP)

web-test: web-install
	$(WEB_NEED_NPM)
	cd $(WEB_DIR) && npx tsc -b && npx vitest run

# End-to-end tests against a real server (PostgreSQL at $$WAB_E2E_DATABASE_URL or postgresql://postgres@127.0.0.1)
# and Debian's chromium (apt-get install chromium).
web-e2e: web-build web-browser
	$(WEB_NEED_NPM)
	cd $(WEB_DIR) && bash e2e/run.sh

# Performance figures (first load, bundle size, 200-node canvas, 10,000-conversation inbox) against a server
# started like the e2e tests; writes web/perf/latest.md. Not part of `make test`.
web-perf: web-build web-browser
	$(WEB_NEED_NPM)
	cd $(WEB_DIR) && node perf/run.mjs

web-check-api: web-install
	$(WEB_NEED_NPM)
	cd $(WEB_DIR) && npm run check:api

# Debian's Chromium drives the end-to-end tests (Playwright's own browser download is not reachable here).
web-browser:
	@if [ ! -x "$${CHROMIUM:-/usr/bin/chromium}" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the end-to-end tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Chromium is needed for the end-to-end tests: apt-get install chromium (or set CHROMIUM)" >&2; exit 1; fi; \
	fi
