# Two entry points: `make demo` and `make test`. Both install what is missing first:
# Debian packages when root and apt-get are here, the virtualenv in .venv, and (for the
# tests that compare against it) checkov in its own .venv-checkov.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check unit bench deps system-deps peers clean

demo: deps
	@scripts/demo

test: deps peers check unit

check: deps
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy --strict src

# The pure core must stay >= 95 % covered (branch coverage) by the suite.
unit: deps
	$(BIN)/python -m pytest -q --cov=hoist.core --cov-branch --cov-report=term --cov-fail-under=95

# Byte-compile first, as an installed package is: the timings are of hoist, not of the
# compiler (editable installs and PYTHONDONTWRITEBYTECODE would recompile every run).
bench: deps peers
	$(BIN)/python -m compileall -q src
	$(BIN)/python -m bench

deps: system-deps $(STAMP)

system-deps:
	@scripts/install-system-deps

peers:
	@scripts/ensure-checkov

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) .venv-checkov .pytest_cache .mypy_cache .ruff_cache bench/results
