# One venv, made from nothing but this repository. `make test` is what CI runs.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test lint unit bench clean browser

$(BIN)/nudgebot: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/nudgebot

run: install
	$(BIN)/nudgebot run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Headless Chromium and chromedriver from Debian for the dashboard's browser test; only as root
# (elsewhere the test skips and says how to install them).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	  else echo "browser test will skip: apt-get install chromium chromium-driver as root"; fi; \
	fi

# The suite twice, in parallel: on the embedded SQLite and on PostgreSQL
# (NUDGEBOT_TEST_PG names the server).
unit: install browser
	scripts/run-suites $(BIN)

test: lint unit

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

# Mutation testing (mutmut) of the modules where a silent bug costs most; tens of minutes,
# not part of CI. Score per module; survivors are listed in docs/testing.md.
# ONLY="outbox routing" runs a subset. See scripts/mutation.py.
.PHONY: mutation
mutation: install
	$(BIN)/pip install --quiet -e '.[mutation]'
	nice -n 10 $(BIN)/python scripts/mutation.py $(ONLY)
