# Two commands set everything up on a fresh machine:
#   make run    create the virtual environment, install, run the bot (console mode without tokens)
#   make test   the same install, then the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/newsbot run

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy bot handlers storage

bench: install
	$(BIN)/python -m benchmarks.segmentation
	$(BIN)/python -m benchmarks.ingest
	$(BIN)/python -m benchmarks.dedup
	$(BIN)/python -m benchmarks.classify
	$(BIN)/python -m benchmarks.summarize
	$(BIN)/python -m benchmarks.match --subscriptions 10000 --stories 2000

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
