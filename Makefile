# crypton-marketdata — the two commands a new user needs are `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
UV_VERSION := 0.13.8
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
PYTEST_ARGS ?=

.PHONY: help install run test lint pytest smoke bench kafka-up kafka-down kafka-status clean chromium

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	@py=$$(scripts/find-python) && echo "» creating $(VENV) with $$py" && "$$py" -m venv $(VENV)

$(VENV)/.installed: pyproject.toml uv.lock $(BIN)/python
	@[ -x $(UV) ] || $(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) sync --frozen --extra dev --python $(BIN)/python
	@touch $@

NODE_CLIENT := tests/node/node_modules/.installed

$(NODE_CLIENT): tests/node/package.json tests/node/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm (Node.js 18+) is needed for the SignalR client tests" >&2; exit 1; }
	npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
	@touch $@

DASHBOARD_NODE := dashboard/node_modules/.installed
DASHBOARD_BUILD := query_api/static/index.html

$(DASHBOARD_NODE): dashboard/package.json dashboard/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm (Node.js 18+) is needed to build the dashboard" >&2; exit 1; }
	npm ci --prefix dashboard --no-audit --no-fund --loglevel=error
	@touch $@

$(DASHBOARD_BUILD): $(DASHBOARD_NODE) $(wildcard dashboard/*.html dashboard/*.js dashboard/*.css dashboard/*.mjs)
	node dashboard/build.mjs

chromium: ## headless Chromium for the browser tests (Debian's package; Playwright's download is not used)
	@command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || { \
	  echo "» installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

install: $(VENV)/.installed $(NODE_CLIENT) $(DASHBOARD_BUILD) ## create .venv (Python 3.12+), install the locked dependencies, build the dashboard

run: install ## start Kafka (unless configured) and everything else; Ctrl-C stops it all
	$(BIN)/marketdata run

test: install chromium lint pytest smoke ## the whole suite: lint, types, import contracts, tests with real Kafka, wheel smoke

lint: install ## ruff, mypy (strict), import contracts, schema compatibility
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/marketdata schemas check

pytest: install ## the pytest suite (unit, contract, integration against a real broker)
	$(BIN)/pytest $(PYTEST_ARGS)

smoke: install ## build the wheel, install it in a clean venv, import everything, run --help
	scripts/wheel-smoke

CRYPTOFEED_VENV := bench/.venv-cryptofeed

$(CRYPTOFEED_VENV)/bin/python:  # the comparison feed handler lives in its own venv, never in ours
	"$$(scripts/find-python 3.13)" -m venv $(CRYPTOFEED_VENV)  # cryptofeed 3.0.1 needs Python 3.13
	$(CRYPTOFEED_VENV)/bin/pip install -q --disable-pip-version-check cryptofeed==3.0.1

bench: install $(CRYPTOFEED_VENV)/bin/python ## run the benchmarks and print their figures
	$(BIN)/python bench/bench_kafka_startup.py
	$(BIN)/python bench/bench_indicators.py
	$(BIN)/python bench/bench_codec.py
	$(BIN)/python bench/bench_processors.py --kafka
	$(BIN)/python bench/bench_kraken_parse.py --cryptofeed $(CRYPTOFEED_VENV)/bin/python

kafka-up: install ## start a local Apache Kafka broker (resolved from Maven Central once)
	$(BIN)/marketdata kafka up

kafka-down: install ## stop the local broker started by kafka-up
	$(BIN)/marketdata kafka down

kafka-status: install ## is the local broker running and answering?
	$(BIN)/marketdata kafka status

clean: ## remove build outputs and caches (not .venv, not the Kafka cache)
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis test-artifacts
