# Two commands set everything up on a fresh machine:
#   make run    create the virtual environment, install what running needs, run the bot
#               (console mode without tokens)
#   make test   the same, plus the test and lint tools, then the whole test suite
# Every install takes its exact versions from the lock: constraints.txt (runtime) and
# constraints-dev.txt (runtime + dev), installed with pip (nothing else; pip is locked too).
# `make lock` refreshes both after a change to pyproject.toml; `make lock-upgrade` moves every
# package to the newest version pyproject.toml allows.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP_INSTALL := $(BIN)/python -m pip install --disable-pip-version-check
# One stamp per install, so `make run` after `make test` installs nothing and `make test` after
# `make run` only adds the dev tools.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
DASHBOARD_STAMP := $(VENV)/.installed-dashboard
# pip is locked too, and updated first: the pip that comes with Python 3.11 does not match the
# extra `lxml[html_clean]` to lxml's `html-clean`, so it silently leaves out lxml_html_clean,
# which trafilatura needs (pip >= 23.3 normalises extra names).
INSTALLER := pip>=23.3
LOCK := echo '$(INSTALLER)' | $(BIN)/uv pip compile pyproject.toml - --universal --quiet \
	--annotation-style line --custom-compile-command 'make lock'

.PHONY: install install-dev run test lint bench dashboard lock lock-upgrade clean catalogs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	@echo "Installing what newsbot needs to run into $(VENV), from constraints.txt" \
		"(about 530 MB; 2-3 minutes)"
	$(PIP_INSTALL) -c constraints.txt pip
	$(PIP_INSTALL) -c constraints.txt -e .
	touch $@

$(DEV_STAMP): pyproject.toml constraints-dev.txt $(RUN_STAMP)
	@echo "Adding the test, lint and benchmark tools to $(VENV), from constraints-dev.txt" \
		"(about 200 MB more; 1 minute)"
	$(PIP_INSTALL) -c constraints-dev.txt -e '.[dev]'
	touch $@

$(DASHBOARD_STAMP): pyproject.toml constraints.txt $(RUN_STAMP)
	$(PIP_INSTALL) -c constraints.txt -e '.[dashboard]'
	touch $@

install: $(RUN_STAMP)

install-dev: $(DEV_STAMP)

run: install
	$(BIN)/newsbot run

test: install-dev
	$(BIN)/python -m pytest -q

# Extract the interface messages into bot/locale/newsbot.pot and merge them into every language's
# .po (then translate what is new; `python scripts/update_catalogs.py --stats` shows what is left).
catalogs: install-dev
	$(BIN)/python scripts/update_catalogs.py

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/mypy bot handlers storage

dashboard: $(DASHBOARD_STAMP)
	$(BIN)/newsbot dashboard

bench: install-dev
	$(BIN)/python -m benchmarks.segmentation
	$(BIN)/python -m benchmarks.ingest
	$(BIN)/python -m benchmarks.dedup
	$(BIN)/python -m benchmarks.classify
	$(BIN)/python -m benchmarks.summarize
	$(BIN)/python -m benchmarks.multilingual --compare benchmarks/multilingual_baseline.json
	$(BIN)/python -m benchmarks.match --subscriptions 10000 --stories 2000

# The lock tool, at its locked version.
$(BIN)/uv: constraints-dev.txt | $(BIN)/python
	$(PIP_INSTALL) -c constraints-dev.txt uv
	touch $@

# Everything is resolved together first (constraints-dev.txt); the runtime lock is the part of
# that solution a running bot needs, so both agree on every package they share. Both are
# universal: markers pick the pins for other platforms and Python versions.
lock: $(BIN)/uv
	$(LOCK) --extra dev --extra dashboard -o constraints-dev.txt
	$(LOCK) --extra dashboard -c constraints-dev.txt -o constraints.txt

lock-upgrade: $(BIN)/uv
	$(LOCK) --extra dev --extra dashboard --upgrade -o constraints-dev.txt
	$(LOCK) --extra dashboard -c constraints-dev.txt -o constraints.txt

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
