# VWMP — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
export UV_LINK_MODE ?= copy
PYTEST = VWMP_FAIL_ON_SKIP=1 $(UV) run --no-sync pytest
# `make test` runs its tests in parallel (pytest-xdist), a test module per worker at a time so module
# fixtures (a platform, a NATS) are made once; PYTEST_WORKERS=0 runs them in this process.
PYTEST_WORKERS ?= 2
PARALLEL = $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile)
# The three tiers (markers set in conftest.py); the expressions split the suite without a gap or an overlap.
UNIT := not integration and not e2e
INTEGRATION := integration and not e2e
E2E := e2e

.PHONY: help bootstrap uv deps frontend browser run test test-python test-unit test-integration test-e2e check-tiers \
	test-faults netns-tools test-contract test-frontend test-versions signing lint typecheck proto bench bench-quick \
	containers images test-containers dist clean

help: ## show the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

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

signing: ## install Debian's gpg and ssh-keygen for the signed tag tests when missing
	@command -v gpg >/dev/null 2>&1 && command -v gpg-agent >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gpg gpg-agent openssh-client >/dev/null; }

bootstrap: deps frontend

run: bootstrap ## start the whole platform (embedded NATS, SQLite) at http://127.0.0.1:$${VWMP_HTTP_PORT:-8080}
	$(UV) run --no-sync vwmp up

test: bootstrap browser signing ## run every test: unit, integration (SQLite, PostgreSQL, NATS), end-to-end, browser
	$(MAKE) --no-print-directory check-tiers test-frontend test-python

test-python:
	$(PYTEST) $(PARALLEL) -m "not faults and not containers"

test-faults: bootstrap netns-tools ## fault injection as root: network partitions, latency, PostgreSQL down (called by .ci/run)
	$(PYTEST) -m faults

netns-tools: ## install Debian's iproute2 (ip netns, for the partition tests) when `ip` is missing
	@command -v ip >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null; }

test-contract: bootstrap ## schemathesis --checks all (every phase) against the whole platform; VWMP_CONTRACT_EXAMPLES=50 digs deeper
	$(PYTEST) tests/e2e/test_openapi_contract.py

test-containers: bootstrap containers ## the images built and run: the platform as containers, a plugin author's container joining
	VWMP_BASE_IMAGE=$${VWMP_BASE_IMAGE:-local} $(MAKE) --no-print-directory containers
	VWMP_BASE_IMAGE=$${VWMP_BASE_IMAGE:-local} timeout --kill-after 30 $${VWMP_CONTAINERS_TIMEOUT:-1200} \
	  env $(PYTEST) -m containers tests/containers

test-unit: bootstrap signing ## unit tests only: no real service beyond in-process SQLite
	$(PYTEST) -m "$(UNIT)"

test-integration: bootstrap ## integration tests: PostgreSQL, NATS, services as processes
	$(PYTEST) -m "$(INTEGRATION)"

test-e2e: bootstrap browser signing ## end-to-end tests: the whole platform as real processes, and the browser
	$(PYTEST) -m "$(E2E) and not faults and not containers"

check-tiers: deps ## every collected test is in exactly one of the three tiers
	@set -o pipefail; collect() { $(UV) run --no-sync pytest --collect-only -q "$$@" | grep -c '::'; }; \
	 total=$$(collect) || { echo "collecting the suite failed:"; $(UV) run --no-sync pytest --collect-only -q | tail -n 15; exit 1; }; tiers=0; \
	 for expression in "$(UNIT)" "$(INTEGRATION)" "$(E2E)"; do \
	   count=$$(collect -m "$$expression") || { echo "collecting -m '$$expression' failed"; exit 1; }; \
	   printf '  %-28s %5d\n' "$$expression" "$$count"; tiers=$$((tiers + count)); \
	 done; \
	 if [ "$$tiers" -ne "$$total" ]; then echo "the tiers hold $$tiers tests, the suite $$total"; exit 1; fi; \
	 echo "  the three tiers hold all $$total tests"

test-frontend:
	@if [ -f frontend/package.json ]; then cd frontend && npm test; fi

test-versions: ## the Python suite on every interpreter from 3.11 to 3.13 found on the machine
	@for v in 3.11 3.12 3.13; do \
	  py=$$(command -v python$$v) || { echo "python$$v not found: skipped"; continue; }; \
	  echo "== Python $$v"; \
	  UV_PROJECT_ENVIRONMENT=.venv-$$v UV_PYTHON_DOWNLOADS=never $(UV) sync -q --all-packages --group dev --python $$py \
	    && .venv-$$v/bin/python -m pytest -q -m "not browser" || exit 1; \
	done

dist: deps ## versioned wheels and an sdist of every package in dist/, checked with twine
	rm -rf dist
	$(UV) build --all-packages --out-dir dist --quiet
	$(UV) run --no-sync twine check --strict dist/*

lint: deps ## ruff, then mypy --strict (libs/*/src, services/*/src)
	$(UV) run --no-sync ruff check .
	$(MAKE) --no-print-directory typecheck

typecheck: deps ## mypy --strict over libs/*/src and services/*/src (settings in pyproject.toml)
	$(UV) run --no-sync mypy

proto: deps ## regenerate libs/vwmp-proto from proto/
	$(UV) run --no-sync python libs/vwmp-proto/generate.py

bench: deps ## issue 16's table (figure, measured, target, met?), then the detail tables; ARGS=--quick: the table only, in about a minute
	$(UV) run --no-sync python bench/scale.py $(ARGS)
	@case " $(ARGS) " in *" --quick "*) ;; *) \
	  $(UV) run --no-sync python bench/engine_overhead.py && \
	  $(UV) run --no-sync python bench/concurrent_runs.py && \
	  $(UV) run --no-sync python bench/keyed_runs.py && \
	  $(UV) run --no-sync python bench/fan_out_items.py ;; esac

bench-quick: deps ## a one-minute smoke run of issue 16's table (smaller sizes, marked as such)
	$(UV) run --no-sync python bench/scale.py --quick

containers: ## a container engine: Docker when one answers, else Debian's podman + runc + podman-compose (+ debootstrap for local bases)
	@docker info >/dev/null 2>&1 || { command -v podman >/dev/null 2>&1 && command -v runc >/dev/null 2>&1 && \
	  command -v podman-compose >/dev/null 2>&1; } || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc podman-compose >/dev/null; }
	@if [ "$${VWMP_BASE_IMAGE:-public}" = local ] && ! command -v debootstrap >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; fi

images: uv containers ## every service image, the plugin SDK and example plugin images, an SBOM each (dist/sbom); VWMP_BASE_IMAGE=local: on bases made here
	bash deploy/build-images.sh
	bash deploy/sbom.sh

clean:
	rm -rf .vwmp workspace frontend/dist .mypy_cache
