# The two commands of the README: `make run` and `make test`. Everything they need is installed from here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reflex 0.10 needs Node >= 22.22; when the system's is older, one comes from the npm registry.
NODE_DIR := .tools/node
NODE_BIN := $(CURDIR)/$(NODE_DIR)/node_modules/.bin
export PATH := $(NODE_BIN):$(CURDIR)/$(BIN):$(PATH)
export REFLEX_USE_NPM := 1
export REFLEX_TELEMETRY_ENABLED := false

.PHONY: run test lint deps test-deps node chromium postgres migrate static benchmark clean

run: deps node migrate
	@echo "chatapp starts at http://localhost:3000 (backend and REST API at http://localhost:8000)"
	$(BIN)/reflex run

test: test-deps node chromium postgres lint
	$(BIN)/python -m pytest -q

lint: test-deps
	$(BIN)/ruff check .
	$(BIN)/mypy chatapp

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

deps: $(BIN)/python
	$(BIN)/pip install --quiet -e .

test-deps: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

node:
	@if node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a==22&&b>=22)?0:1)' 2>/dev/null; then \
		echo "node $$(node --version)"; \
	else \
		echo "installing Node 22 from the npm registry into $(NODE_DIR)"; \
		npm install --silent --prefix $(NODE_DIR) node@22 >/dev/null; \
		$(NODE_BIN)/node --version; \
	fi

# Browser tests drive Debian's chromium (Playwright's own browser download can't work offline).
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# Storage and REST tests start their own throwaway PostgreSQL server from Debian's binaries (initdb, pg_ctl).
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null)

migrate: deps
	$(BIN)/reflex db migrate

# The frontend as plain files in site/ for any static host. The backend URL is baked in now, from REFLEX_API_URL.
static: deps node
	$(BIN)/reflex export --frontend-only --no-zip
	rm -rf site && cp -r .web/build/client site
	@echo "site/ talks to $${REFLEX_API_URL:-http://localhost:8000}; serve it with any static file server"

benchmark: test-deps node chromium
	$(BIN)/python benchmarks/streaming.py

clean:
	rm -rf $(VENV) $(NODE_DIR) .web .states site chatapp.db*
