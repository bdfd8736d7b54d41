# One venv, made from nothing but this repository. `make test` is what CI runs.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# One stamp per extra: README command 1 (`pip install -e .`) creates .venv/bin/nudgebot but no
# dev tools, so the venv itself can't be the target; `install` installs whatever is missing.
BASE_STAMP := $(VENV)/.installed-base
DEV_STAMP := $(VENV)/.installed-dev
DEV_TOOLS := pytest ruff mypy lint-imports

.PHONY: install run test lint unit bench clean browser dovecot

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(BASE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(BASE_STAMP)

# A stamp whose tools went missing (deleted by hand, a plain reinstall) counts as missing.
install:
	@for tool in $(DEV_TOOLS); do [ -x $(BIN)/$$tool ] || rm -f $(DEV_STAMP); done
	@$(MAKE) --no-print-directory $(DEV_STAMP)

run: $(BASE_STAMP)
	$(BIN)/nudgebot run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Headless Chromium and chromedriver from Debian for the dashboard's browser test, only when
# asked (`make browser`; .ci/run asks) and only as root. Never upgrades an installed package:
# if Debian's chromium needs newer versions of anything already installed (systemd, libudev1…),
# nothing is installed and the packages are named instead.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "browser test will skip: apt-get install --no-upgrade chromium chromium-driver as root"; exit 0; fi; \
	apt-get update -q >/dev/null; \
	upgrades=$$(apt-get install -s --no-install-recommends chromium chromium-driver | sed -n 's/^Inst \([^ ]*\) \[.*/\1/p'); \
	if [ -n "$$upgrades" ]; then \
	  echo "not installing chromium: it would upgrade installed packages:" $$upgrades; \
	  echo "upgrade them yourself, then run make browser again"; exit 1; fi; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-upgrade --no-install-recommends chromium chromium-driver

# Debian's dovecot-imapd for the email adapter's tests (a real IMAP server, started by the
# tests themselves in a temp dir on a loopback port): same rules as `make browser`.
dovecot:
	@if [ -x /usr/sbin/dovecot ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "email tests will skip: apt-get install --no-upgrade dovecot-imapd as root"; exit 0; fi; \
	apt-get update -q >/dev/null; \
	upgrades=$$(apt-get install -s --no-install-recommends dovecot-imapd | sed -n 's/^Inst \([^ ]*\) \[.*/\1/p'); \
	if [ -n "$$upgrades" ]; then \
	  echo "not installing dovecot-imapd: it would upgrade installed packages:" $$upgrades; \
	  echo "upgrade them yourself, then run make dovecot again"; exit 1; fi; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-upgrade --no-install-recommends dovecot-imapd

# The suite twice, in parallel: on the embedded SQLite and on PostgreSQL
# (NUDGEBOT_TEST_PG names the server). Progress streams as it comes, one prefix per suite.
unit: install
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
