# Executable docs: `make demo` runs the main job offline, `make test` passes the tests.
# Both create the virtualenv on first use (Python 3.11, packages from PyPI).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CODE := src tests $(wildcard bench)

.PHONY: install demo test lint format bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e . --group dev
	touch $@

demo: install
	$(BIN)/aggregator demo

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)

format: install
	$(BIN)/ruff format $(CODE)
	$(BIN)/ruff check --fix $(CODE)

bench: install
	$(BIN)/python bench/eval_stories.py tests/data/eval_dev

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache aggregator-demo.db*
