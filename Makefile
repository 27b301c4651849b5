# rtrm — every target installs what it needs first (idempotent, stamp-based, fast when nothing changed).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FORGE := node_modules/@foundry-rs/forge-linux-amd64/bin/forge
export FOUNDRY_SOLC := $(CURDIR)/bin/solc
SOL_SOURCES := $(shell find contracts -name '*.sol' 2>/dev/null) foundry.toml

.PHONY: setup demo test test-slow test-all forge-test lint typecheck bench clean

setup: $(VENV)/.stamp node_modules/.stamp out/.stamp

$(VENV)/.stamp: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

node_modules/.stamp: package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

out/.stamp: node_modules/.stamp $(SOL_SOURCES)
	$(FORGE) build
	@mkdir -p out && touch $@

demo: setup
	$(VENV)/bin/rtrm demo

# Default suite: forge tests, then Python tests against real anvil / Solana endpoint / broker processes.
test: setup
	$(VENV)/bin/ruff check bots chains risk tests bench
	$(FORGE) test
	$(PY) -m pytest -q

forge-test: node_modules/.stamp
	$(FORGE) test -vv

# Fault-injection and other long suites (not part of `make test`).
test-slow: setup
	$(PY) -m pytest -q -m slow

bench: setup
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/run_all.py

lint: setup
	$(VENV)/bin/ruff check bots chains risk tests bench

typecheck: setup
	$(VENV)/bin/mypy risk chains bots

clean:
	rm -rf out cache devnet/run
