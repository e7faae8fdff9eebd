# Madoguchi — every command installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lock frontend chromium demo serve test test-sqlite screenshots bench lint format migrate clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# requirements.lock: every dependency (dev included) pinned with its files' sha256, made
# by uv (pinned) from pyproject.toml. It keeps the pins it has: after editing
# pyproject.toml run `make lock`; to move to newer releases, `make lock LOCK_ARGS=--upgrade`
# (or `LOCK_ARGS="--upgrade-package NAME"`).
UV_VERSION := 0.13.8
LOCK_VENV := .venv-lock
LOCK_ARGS ?=

$(LOCK_VENV)/bin/uv:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet uv==$(UV_VERSION)

lock: $(LOCK_VENV)/bin/uv  ## regenerate requirements.lock (with hashes) from pyproject.toml
	$(LOCK_VENV)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes \
		--python-version 3.11 --output-file requirements.lock $(LOCK_ARGS)

# The web app (frontend/) is built into the Python package, which serves it at "/".
# The build is not committed; it is redone only when a source file changed.
WEB_BUILD := madoguchi/web/static/app/.built
NODE_STAMP := frontend/node_modules/.installed
WEB_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/index.html \
	frontend/vite.config.ts frontend/tsconfig.json $(shell find frontend/public -type f 2>/dev/null)

$(NODE_STAMP): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(WEB_BUILD): $(NODE_STAMP) $(WEB_SOURCES)
	cd frontend && npm run build
	touch $@

frontend: $(WEB_BUILD)  ## build the web app (npm ci && npm run build in frontend/)

# Browser tests drive Debian's Chromium (Playwright cannot download its own here).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell test "$$(id -u)" -eq 0 || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk fonts-noto-color-emoji

chromium: $(CHROMIUM)

# `make bench` measures the acknowledgement path with wrk (a C load generator): Debian's.
WRK := /usr/bin/wrk

$(WRK):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk

demo: $(STAMP) $(WEB_BUILD)  ## run the product + the WhatsApp simulator on SQLite, seeded
	$(BIN)/madoguchi demo

serve: $(STAMP) $(WEB_BUILD)
	$(BIN)/madoguchi migrate && $(BIN)/madoguchi serve --dev

migrate: $(STAMP)
	$(BIN)/madoguchi migrate

# The suite runs on TEST_WORKERS pytest-xdist workers (each with its own PostgreSQL database;
# the browser tests together on one of them: tests/conftest.py). TEST_WORKERS=0 runs it in
# this one process; PYTEST_ARGS adds options (e.g. PYTEST_ARGS="-x tests/channel").
TEST_WORKERS ?= 2
PYTEST_PARALLEL := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup)

test: $(STAMP) $(WEB_BUILD) $(CHROMIUM)  ## every test, on SQLite and PostgreSQL
	$(BIN)/pytest -q $(PYTEST_PARALLEL) $(PYTEST_ARGS)

screenshots: $(STAMP) $(WEB_BUILD) $(CHROMIUM)  ## rewrite docs/images from the browser tests
	MADOGUCHI_SCREENSHOTS=1 $(BIN)/pytest -q tests/ui -m "not postgres"

test-sqlite: $(STAMP) $(WEB_BUILD) $(CHROMIUM)
	$(BIN)/pytest -q $(PYTEST_PARALLEL) -m "not postgres" $(PYTEST_ARGS)

bench: $(STAMP) $(WRK)  ## performance figures (printed, never asserted)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check madoguchi tests bench
	$(BIN)/ruff format --check madoguchi tests bench

format: $(STAMP)
	$(BIN)/ruff format madoguchi tests bench
	$(BIN)/ruff check --fix madoguchi tests bench

clean:
	rm -rf $(VENV) var frontend/node_modules madoguchi/web/static/app
