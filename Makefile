# The README's two commands: `make run` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { command -v $$p; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint typecheck unit serve clean help

help:
	@echo "make run   - install what is needed and start WhatsApp Builder on http://$(HOST):$(PORT)"
	@echo "make test  - install what is needed and run linters, type checks and the tests"

$(INSTALLED): pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "error: Python 3.11 or newer is needed (python3.11, python3.12 or python3)." >&2; exit 1; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

run: $(INSTALLED)
	$(BIN)/whatsapp-builder serve --host $(HOST) --port $(PORT)

lint: $(INSTALLED)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src

typecheck: $(INSTALLED)
	$(BIN)/mypy src

unit: $(INSTALLED)
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

test: lint typecheck unit

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
