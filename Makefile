# One entry point for every chore; CI and people call the same targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser demo serve test lint bench-ingest bench-releases bench-audit bench-stats bench-reports bench-at-risk clean

$(STAMP): pyproject.toml
	@echo "Setting up $(VENV): the gateway and its test tools from pyproject.toml (FastAPI, SQLAlchemy, psycopg,"
	@echo "OpenDP, cryptography, pytest, schemathesis, Playwright, polars; about a minute on a fresh machine)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --progress-bar on -e ".[test]"
	@echo "$(VENV) is ready"
	touch $(STAMP)

setup: $(STAMP)

## Set up, initialise the embedded default (SQLite in ./var), load synthetic England, serve on :8000.
demo: setup
	$(BIN)/gateway demo

serve: setup
	$(BIN)/gateway serve

## Debian's chromium for the end-to-end console tests (installed when we are root and it is missing).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is not installed and we are not root: the browser tests will be skipped (CI installs it)"; fi; }

## Set up and run the whole test suite (SQLite always; PostgreSQL too when GATEWAY_TEST_POSTGRES_URL is set).
test: setup browser
	$(BIN)/pytest -q

## Ruff with the project's rules over all package code, and mypy over the pure core (CI runs this first).
lint: setup
	$(BIN)/ruff check gateway policies anonymisation consent audit schemas synthetic migrations
	$(BIN)/mypy policies anonymisation consent audit schemas synthetic

bench-ingest: setup
	$(BIN)/python bench/ingest.py

bench-releases: setup
	$(BIN)/python bench/releases.py

bench-audit: setup
	$(BIN)/python bench/audit.py

bench-stats: setup
	$(BIN)/python bench/stats.py

bench-reports: setup
	$(BIN)/python bench/reports.py

## Precision and recall of the at-risk rule on held-out synthetic schools (two years, in memory).
bench-at-risk: setup
	$(BIN)/python bench/at_risk.py

clean:
	rm -rf $(VENV) var .pytest_cache
