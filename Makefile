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

.PHONY: run run-scaled test lint deps test-deps llama llama-rebuild model-check node chromium axe postgres redis migrate static \
	benchmark benchmark-local benchmark-stop load clean docs

run: deps node migrate model-check
	@echo "chatapp starts at http://localhost:3000 (backend and REST API at http://localhost:8000)"
	$(BIN)/reflex run

test: test-deps node chromium axe postgres redis lint docs model-check
	$(BIN)/python -m pytest -q

# Style, types, the layers (pyproject's importlinter contracts) and modules short enough to read.
lint: test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check --quiet .
	$(BIN)/mypy chatapp
	$(BIN)/lint-imports --no-cache
	$(BIN)/python scripts/module-lengths 350

# The docs site (mkdocs.yml, docs/) into .docs-site/; --strict fails on a broken link or a page left out of the nav.
docs: test-deps
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

deps: llama
	$(BIN)/pip install --quiet -e .

test-deps: llama
	$(BIN)/pip install --quiet -e '.[test]'

# llama-cpp-python compiles llama.cpp as it installs. Its default (GGML_NATIVE=ON, i.e. -march=native) is code
# for the build machine's own CPU: on another CPU, or in a VM that reports an instruction set it doesn't allow
# (Intel AMX, seen here), the bundled model dies with SIGILL. So it is built for a baseline instead:
# - x86-64: AVX, AVX2, FMA, F16C and BMI2, which every x86-64 CPU since Intel Haswell (2013) and AMD Zen (2017)
#   has; no AVX-512 and no AMX. The README says what this costs against a native build.
# - aarch64: armv8-a, the first 64-bit Arm (NEON is part of it); other CPUs: the compiler's default.
# LLAVA_BUILD=OFF skips the multimodal library, which a text model never loads.
# pip's wheel cache doesn't tell builds with other CMAKE_ARGS apart, so a wheel once built native would be
# installed again: this build neither reads nor writes that cache, and a stamp in the venv names the version and
# flags installed. A venv without the stamp of the current ones (one from before, say) is rebuilt.
LLAMA_VERSION := $(shell sed -n 's/.*"llama-cpp-python==\([^"]*\)".*/\1/p' pyproject.toml)
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DLLAVA_BUILD=OFF
else
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_CPU_ARM_ARCH=armv8-a -DLLAVA_BUILD=OFF
endif
LLAMA_STAMP := $(VENV)/.llama-cpp-$(LLAMA_VERSION)-$(shell echo '$(LLAMA_CMAKE_ARGS)' | cksum | cut -d' ' -f1)

llama: $(LLAMA_STAMP)

$(LLAMA_STAMP): | $(BIN)/python
	@echo "building llama-cpp-python $(LLAMA_VERSION) for any $$(uname -m) CPU (a few minutes, once)"
	rm -f $(VENV)/.llama-cpp-*
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --no-cache-dir --force-reinstall --no-deps \
		llama-cpp-python==$(LLAMA_VERSION)
	touch $@

llama-rebuild:
	rm -f $(VENV)/.llama-cpp-*
	$(MAKE) llama

# One real answer from the local model, in a process of its own, before anything starts: a build that can't
# run here, or a bad CHATAPP_LOCAL_MODEL_PATH, stops set-up with the cause and the fix.
model-check: deps
	$(BIN)/python -m chatapp.providers.local.process

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

# Accessibility tests inject axe-core (Deque's engine, the one behind Lighthouse) from the npm registry.
AXE_VERSION := 4.14.1
AXE := .tools/axe/node_modules/axe-core/axe.min.js
axe: $(AXE)
$(AXE):
	npm install --silent --prefix .tools/axe axe-core@$(AXE_VERSION) >/dev/null

# Storage and REST tests start their own throwaway PostgreSQL server from Debian's binaries (initdb, pg_ctl).
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null)

# The job registry's Redis back end is tested against a throwaway server from Debian's redis-server.
redis:
	@command -v redis-server >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null)

migrate: deps
	$(BIN)/reflex db migrate

# The app on several workers (GRANIAN_WORKERS, default: the core count) with Redis and PostgreSQL, which it
# starts from .data/ (README: Many workers).
run-scaled: deps node redis postgres model-check
	scripts/run-scaled.sh

# The frontend as plain files in site/ for any static host. The backend URL is baked in now, from REFLEX_API_URL.
static: deps node
	$(BIN)/reflex export --frontend-only --no-zip
	rm -rf site && cp -r .web/build/client site
	@echo "site/ talks to $${REFLEX_API_URL:-http://localhost:8000}; serve it with any static file server"

benchmark: test-deps node chromium
	$(BIN)/python benchmarks/streaming.py

# The bundled model's tokens/s in raw llama-cpp-python, then as the browser receives it through the app.
benchmark-local: test-deps node chromium
	$(BIN)/python benchmarks/local_model.py raw
	$(BIN)/python benchmarks/local_model.py app

# Many tabs streaming at once over socket.io, on one worker (SQLite) and on run-scaled's two (Redis, PostgreSQL).
load: test-deps node redis postgres
	$(BIN)/python benchmarks/load.py one 1 20 50 100
	$(BIN)/python benchmarks/load.py scaled 1 50 100 200 400

# Stop pressed on one worker, the answer running on another, through Redis.
benchmark-stop: test-deps redis
	$(BIN)/python benchmarks/stop.py

clean:
	rm -rf $(VENV) $(NODE_DIR) .web .states site chatapp.db* .data
