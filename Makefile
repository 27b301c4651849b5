# rtrm — every target installs what it needs first (idempotent, stamp-based, fast when nothing changed).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FORGE := node_modules/@foundry-rs/forge-linux-amd64/bin/forge
export FOUNDRY_SOLC := $(CURDIR)/bin/solc
SOL_SOURCES := $(shell find contracts -name '*.sol' 2>/dev/null) foundry.toml

.PHONY: setup browser demo test test-slow test-faults test-all forge-test lint typecheck bench clean

setup: $(VENV)/.stamp node_modules/.stamp out/.stamp browser

# Headless Chromium (Debian package) renders the demo report in tests. Checked every time (cheap), installed when
# missing; installing needs root.
browser:
	@if command -v chromium >/dev/null || test -n "$$RTRM_CHROMIUM"; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo 'installing chromium (Debian package) for the report render test'; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
	  echo 'chromium is missing: run "sudo apt-get install chromium" (or set RTRM_CHROMIUM=/path/to/chrome), then make setup' >&2; \
	  exit 1; \
	fi

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

# Fault-injection scenarios (RPC outage, stuck mempool, reorg, fuzz budgets): `-m faults`, not in `make test`.
# Fault-injection scenarios (outages, stuck mempool, reorgs, kills, degradation) and long fuzz budgets.
test-faults: setup
	$(PY) -m pytest -q -m faults tests/faults

# py_vollib_vectorized (the pricing baseline) cannot run under our numba: bench_pricing.py builds its own
# pinned .venv-bench once and measures it there, in the same run.
bench: setup
	$(PY) bench/run_all.py

lint: setup
	$(VENV)/bin/ruff check bots chains risk tests bench

typecheck: setup
	$(VENV)/bin/mypy risk chains bots

clean:
	rm -rf out cache devnet/run
