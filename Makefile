# VWMP — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
export UV_LINK_MODE ?= copy

.PHONY: help bootstrap uv deps frontend browser run test test-python test-frontend test-versions lint proto bench images clean

help: ## show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

uv: ## install uv when missing
	@command -v uv >/dev/null 2>&1 || test -x $(HOME)/.local/bin/uv || python3 -m pip install --quiet --user uv

deps: uv ## install every Python package of the workspace (one .venv, one uv.lock)
	$(UV) sync --all-packages --group dev

frontend: ## build the designer into frontend/dist
	@if [ -f frontend/package.json ]; then \
	  cd frontend && { [ -d node_modules ] && [ node_modules -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm run build; \
	fi

browser: ## install Debian's chromium for the browser tests (never a downloaded browser)
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

bootstrap: deps frontend

run: bootstrap ## start the whole platform (embedded NATS, SQLite) at http://127.0.0.1:$${VWMP_HTTP_PORT:-8080}
	$(UV) run --no-sync vwmp up

test: bootstrap browser ## run every test: unit, integration (SQLite, PostgreSQL, NATS), end-to-end, browser
	$(MAKE) --no-print-directory test-frontend test-python

test-python:
	VWMP_FAIL_ON_SKIP=1 $(UV) run --no-sync pytest

test-frontend:
	@if [ -f frontend/package.json ]; then cd frontend && npm test; fi

test-versions: ## the Python suite on every interpreter from 3.11 to 3.13 found on the machine
	@for v in 3.11 3.12 3.13; do \
	  py=$$(command -v python$$v) || { echo "python$$v not found: skipped"; continue; }; \
	  echo "== Python $$v"; \
	  UV_PROJECT_ENVIRONMENT=.venv-$$v UV_PYTHON_DOWNLOADS=never $(UV) sync -q --all-packages --group dev --python $$py \
	    && .venv-$$v/bin/python -m pytest -q --deselect tests/e2e/test_designer_browser.py || exit 1; \
	done

lint: deps ## ruff
	$(UV) run --no-sync ruff check .

proto: deps ## regenerate libs/vwmp-proto from proto/
	$(UV) run --no-sync python libs/vwmp-proto/generate.py

bench: deps ## per-step overhead (chain, fan-out, layered; 10..1000 steps), then 500 concurrent runs
	$(UV) run --no-sync python bench/engine_overhead.py
	$(UV) run --no-sync python bench/concurrent_runs.py

images: ## build every service image (needs a Docker engine)
	bash deploy/build-images.sh

clean:
	rm -rf .vwmp workspace frontend/dist
