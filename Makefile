# One entry point for every chore; CI and people call the same targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo serve test test-fast lint bench-ingest clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

## Set up, initialise the embedded default (SQLite in ./var), load synthetic England, serve on :8000.
demo: setup
	$(BIN)/gateway demo

serve: setup
	$(BIN)/gateway serve

## Set up and run the whole test suite (SQLite always; PostgreSQL too when GATEWAY_TEST_POSTGRES_URL is set).
test: setup
	$(BIN)/pytest -q

lint: setup
	$(BIN)/pip install --quiet ruff mypy
	$(BIN)/ruff check gateway policies anonymisation consent audit schemas
	$(BIN)/mypy policies anonymisation consent audit schemas

bench-ingest: setup
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var .pytest_cache
