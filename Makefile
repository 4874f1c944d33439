# Executable docs: `make demo` runs the main job offline, `make test` passes the tests.
# Both create the virtualenv on first use (Python 3.11, packages from PyPI).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CODE := src tests $(wildcard bench)

.PHONY: install demo test lint format bench bench-full bench-peers clean

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

# Benchmarks of issue #7 (not part of the tests); docs/performance.md explains them.
# `make bench` takes about 5-10 minutes on 2 quiet cores, `make bench-full` about 20 minutes
# (first run: + ~17 min to build the cached 1M-article database).
PYTHON312 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python) python3.12)
PEERS := bench/.cache

$(VENV)/.bench-installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --group bench
	touch $@

$(PEERS)/venv-reader312/.installed:
	$(PYTHON312) -m venv $(PEERS)/venv-reader312
	$(PEERS)/venv-reader312/bin/python -m pip install --quiet "reader==3.27"
	touch $@

$(PEERS)/venv-f2s/.installed:
	$(PYTHON) -m venv $(PEERS)/venv-f2s
	$(PEERS)/venv-f2s/bin/python -m pip install --quiet "feed-to-sqlite==0.6.2"
	touch $@

bench-peers: $(PEERS)/venv-reader312/.installed $(PEERS)/venv-f2s/.installed

bench: install $(VENV)/.bench-installed bench-peers
	$(BIN)/python bench/eval_stories.py tests/data/eval_dev
	$(BIN)/python bench/bench_cluster.py --json
	$(BIN)/python bench/bench_parse.py --feeds 200
	$(BIN)/python bench/bench_poll.py --feeds 200
	$(BIN)/python bench/bench_queries.py --articles 100000
	$(BIN)/python bench/report.py

bench-full: install $(VENV)/.bench-installed bench-peers
	$(BIN)/python bench/bench_cluster.py --full --json
	$(BIN)/python bench/bench_poll.py --feeds 2000
	$(BIN)/python bench/bench_queries.py --articles 1000000
	$(BIN)/python bench/report.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache aggregator-demo.db*
