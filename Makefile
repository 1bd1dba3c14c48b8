# Two commands run everything on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo serve test lint services bench clean

# -qq on the project's own install: setuptools' notice that an editable install maps the packages
# by a path finder is not something an operator can act on; errors are still printed.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --quiet -e '.[dev]'
	touch $(STAMP)

## demo: the product on its embedded default (SQLite, built-in answerer) with a shop page at /demo
## (`make demo PORT=8001` for another port; KEFU_PORT works too)
demo: $(STAMP)
	$(BIN)/kefu demo $(if $(PORT),--port $(PORT))

serve: $(STAMP)
	$(BIN)/kefu serve

## services: make sure PostgreSQL, Redis and Chromium are there for the tests
services:
	bash scripts/ensure-services

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

## test: the whole suite (lint, types, unit, both databases, Redis, real servers, browser)
test: $(STAMP) services lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache test-artifacts
