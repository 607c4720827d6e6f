# cdht developer entry points (GNU make).
#
#   make run      quick start #1: build .venv, seed the demo data (prints tokens), serve on $(HOST):$(PORT)
#   make test     quick start #2: run the test suite (SQLite always; PostgreSQL too when available), listing the
#                 30 slowest tests; the console's browser tests (tests/console) need Chromium at /usr/bin/chromium
#                 (Debian: apt-get install chromium; .ci/run installs it)
#   make lint     ruff
#   make openapi  regenerate openapi/openapi.json
#   make tools    the npm tools the tests use (Spectral) into tools/node_modules, when npm is installed
#   make readme   rewrite the README's list of reason codes from workflows/reasons.py
#   make constraints  resolve pyproject.toml's ranges afresh into constraints.txt (the versions .venv is built with)
#   make clean    remove .venv, var/ and caches

PY          ?= python3
HOST        ?= 127.0.0.1
PORT        ?= 8000
PYTEST_ARGS ?=

# PostgreSQL auto-detection for `make test` (used only when CDHT_TEST_POSTGRES_URL is unset).
TEST_PG_HOST ?= 127.0.0.1
TEST_PG_PORT ?= 5432
TEST_PG_USER ?= postgres
TEST_PG_DB   ?= cdht_test

VENV := .venv
BIN  := $(VENV)/bin

.DEFAULT_GOAL := help

.PHONY: help run test lint openapi readme clean bench tools constraints

help:
	@echo "targets: run (HOST=$(HOST) PORT=$(PORT)), test (PYTEST_ARGS=...), lint, openapi, clean"

# The virtualenv is a file target: it is rebuilt whenever pyproject.toml or constraints.txt is newer than it. It
# holds the versions pinned in constraints.txt: those the tests ran on (the Dockerfile installs the same).
# On failure its mtime is reset to 1970 so that the next `make` retries instead of trusting
# a half-built environment.
$(VENV): pyproject.toml constraints.txt
	@command -v $(PY) >/dev/null 2>&1 || { \
	  echo "error: '$(PY)' not found. Install Python >= 3.11 (Debian: apt-get install python3 python3-venv)" \
	       "or pass PY=/path/to/python3." >&2; exit 1; }
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "error: cdht needs Python >= 3.11 but '$(PY)' is $$($(PY) -V 2>&1); pass e.g. PY=python3.11." >&2; \
	  exit 1; }
	@echo "$(PY) -m venv $(VENV)"; $(PY) -m venv $(VENV) || { \
	  touch -t 197001010000 $(VENV) 2>/dev/null; \
	  echo "" >&2; \
	  echo "error: '$(PY) -m venv $(VENV)' failed. On Debian/Ubuntu this almost always means the venv" \
	       "module / ensurepip is missing: run 'apt-get install python3-venv' (as root or with sudo)," \
	       "then run make again." >&2; \
	  exit 1; }
	$(BIN)/pip install --upgrade pip || { touch -t 197001010000 $(VENV) 2>/dev/null; exit 1; }
	$(BIN)/pip install -c constraints.txt -e '.[test]' || { touch -t 197001010000 $(VENV) 2>/dev/null; exit 1; }
	touch $(VENV)

run: $(VENV)
	$(BIN)/cdht seed-demo
	exec $(BIN)/cdht serve --host $(HOST) --port $(PORT)

# SQLite always; PostgreSQL as well when CDHT_TEST_POSTGRES_URL is set. If it is not set and a
# server answers at $(TEST_PG_HOST):$(TEST_PG_PORT), use it (database $(TEST_PG_DB), user
# $(TEST_PG_USER), no password prompt - trust/.pgpass/PGPASSWORD), creating the database if needed.
# The 30 slowest tests (and fixtures) are listed at the end of every run, in CI too (.ci/run calls `make test`).
test: $(VENV) tools
	@enable_hint="set CDHT_TEST_POSTGRES_URL=postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DB to enable them"; \
	pg_psql() { psql -X -w -h $(TEST_PG_HOST) -p $(TEST_PG_PORT) -U $(TEST_PG_USER) -d postgres "$$@"; }; \
	pg_has_db() { pg_psql -Atc "select 1 from pg_database where datname='$(TEST_PG_DB)'" 2>/dev/null | grep -q 1; }; \
	if [ -n "$${CDHT_TEST_POSTGRES_URL:-}" ]; then \
	  echo "make test: PostgreSQL tests use CDHT_TEST_POSTGRES_URL=$$(printf '%s' "$$CDHT_TEST_POSTGRES_URL" | sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#')"; \
	elif command -v pg_isready >/dev/null 2>&1 && pg_isready -h $(TEST_PG_HOST) -p $(TEST_PG_PORT) -q; then \
	  if pg_has_db || createdb -w -h $(TEST_PG_HOST) -p $(TEST_PG_PORT) -U $(TEST_PG_USER) $(TEST_PG_DB) || pg_has_db; then \
	    export CDHT_TEST_POSTGRES_URL="postgresql+asyncpg://$(TEST_PG_USER)@$(TEST_PG_HOST):$(TEST_PG_PORT)/$(TEST_PG_DB)"; \
	    echo "make test: PostgreSQL found, PostgreSQL tests use CDHT_TEST_POSTGRES_URL=$$CDHT_TEST_POSTGRES_URL"; \
	  else \
	    echo "make test: PostgreSQL answers at $(TEST_PG_HOST):$(TEST_PG_PORT) but database $(TEST_PG_DB) is not usable as user $(TEST_PG_USER); PostgreSQL tests will be skipped ($$enable_hint)."; \
	  fi; \
	else \
	  echo "make test: no PostgreSQL at $(TEST_PG_HOST):$(TEST_PG_PORT), PostgreSQL tests will be skipped (start one with trust auth for user $(TEST_PG_USER), or $$enable_hint)."; \
	fi; \
	exec $(BIN)/pytest --durations=30 $(PYTEST_ARGS)

lint: $(VENV)
	$(BIN)/ruff check service workflows tests migrations

# Benchmarks (bench/README.md) against PostgreSQL at 127.0.0.1:5432 (trust auth; each benchmark creates and drops a
# database of its own): prints the figures and prepends them to bench/RESULTS.md. Full sizes take an hour or more;
# `make bench BENCH_ARGS=--quick` is the quick look. py-spy (the `bench` extra) profiles every missed goal.
bench: $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[test,bench]'
	PYTHONPATH=. $(BIN)/python -m bench.run_all $(BENCH_ARGS)

# constraints.txt afresh: the newest releases pyproject.toml's ranges admit, resolved in a scratch venv and pinned
# (its header kept). Then run the whole test suite on both databases before committing it.
constraints:
	rm -rf build/constraints-venv && $(PY) -m venv build/constraints-venv
	build/constraints-venv/bin/pip install -q --upgrade pip
	build/constraints-venv/bin/pip install -q -e '.[test,bench]'
	{ grep '^#' constraints.txt; build/constraints-venv/bin/pip freeze --exclude-editable | grep -v '^#'; } \
	  > constraints.txt.tmp && mv constraints.txt.tmp constraints.txt
	rm -rf build/constraints-venv

# Spectral (tests/test_openapi_lint.py), pinned by tools/package-lock.json; install scripts are not run (none is
# needed, and one dependency's would only report the download).
tools:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory tools/node_modules; \
	else echo "make tools: npm not found; tests/test_openapi_lint.py is skipped (install nodejs and npm; CI does)"; fi

tools/node_modules: tools/package.json tools/package-lock.json
	cd tools && SCARF_ANALYTICS=false npm ci --no-audit --no-fund --ignore-scripts
	touch tools/node_modules

openapi: $(VENV)
	@mkdir -p openapi
	$(BIN)/python -m service.openapi_dump > openapi/openapi.json.tmp || { rm -f openapi/openapi.json.tmp; exit 1; }
	mv openapi/openapi.json.tmp openapi/openapi.json

# The README's registry of reason codes, written from workflows/reasons.py (a test fails when it is stale).
readme: $(VENV)
	$(BIN)/python -m workflows.reasons_readme README.md

clean:
	rm -rf $(VENV) var build .pytest_cache .ruff_cache .hypothesis .mypy_cache .coverage htmlcov *.egg-info
	find . -path ./.git -prune -o \( -name __pycache__ -type d -prune -exec rm -rf {} + \) -o \( -name '*.py[co]' -type f -delete \)
