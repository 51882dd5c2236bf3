# The README's two commands: `make run` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { command -v $$p; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
SIMULATOR_PORT ?= 8081
# `simulator send` looks for the simulator on 8081 unless told otherwise
SEND_HINT = $(if $(filter 8081,$(SIMULATOR_PORT)),,--simulator-url http://127.0.0.1:$(SIMULATOR_PORT) )
PYTEST_ARGS ?=

.PHONY: run test lint typecheck unit serve clean help webui

# The web app's build and test targets (web-build, web-test, web-e2e, web-check-api).
-include web.mk

help:
	@echo "make run   - install what is needed and start WhatsApp Builder on http://$(HOST):$(PORT)"
	@echo "make test  - install what is needed and run linters, type checks and the tests"

$(INSTALLED): pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "error: Python 3.11 or newer is needed (python3.11, python3.12 or python3)." >&2; exit 1; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# Builds the web app when Node.js is there (and says what is missing when it is not), installs the demo
# (a WhatsApp config pointing at the local simulator, and the demo chatbot), starts the simulator in the
# background and the server in the foreground. Ctrl+C stops both.
run: $(INSTALLED) webui
	@$(BIN)/python -c "import socket; [socket.create_server((h, int(p)), family=socket.AF_INET6 if ':' in h else socket.AF_INET).close() for h, p in (('$(HOST)', '$(PORT)'), ('127.0.0.1', '$(SIMULATOR_PORT)'))]" 2>/dev/null \
	  || { echo "Port $(PORT) or $(SIMULATOR_PORT) is already in use (make run already running?). Stop it, or pick others: PORT=8100 SIMULATOR_PORT=8181 make run" >&2; exit 1; }
	$(BIN)/whatsapp-builder demo --simulator-url http://127.0.0.1:$(SIMULATOR_PORT) >/dev/null
	@$(BIN)/whatsapp-builder simulator --host 127.0.0.1 --port $(SIMULATOR_PORT) \
	    --webhook-url http://127.0.0.1:$(PORT)/webhooks/whatsapp & sim=$$!; \
	  trap 'kill $$sim 2>/dev/null' EXIT INT TERM; \
	  echo "Simulator: http://127.0.0.1:$(SIMULATOR_PORT)  (talk to the bot: $(BIN)/whatsapp-builder simulator send $(SEND_HINT)--name Alice --text hi)"; \
	  $(BIN)/whatsapp-builder serve --host $(HOST) --port $(PORT)

webui:
	@if grep -q '^web-build:' web.mk 2>/dev/null; then \
	  if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory web-build; \
	  else echo "note: Node.js 20+ and npm are needed to build the web UI (apt-get install nodejs npm); the API runs without it."; fi; \
	fi

lint: $(INSTALLED)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src

typecheck: $(INSTALLED)
	$(BIN)/mypy src

unit: $(INSTALLED)
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

test: lint typecheck unit web-test web-check-api web-e2e

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
