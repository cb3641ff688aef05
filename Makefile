# mda: the commands a newcomer needs. `make test` provisions everything on a fresh Debian 12
# machine (as root) and runs the whole suite; `make demo` runs the service on its embedded
# database. PYTEST_ARGS passes options through, e.g. make test PYTEST_ARGS="-x tests/test_harness.py".

PYTHON ?= python3
VENV ?= .venv
PYTEST_ARGS ?=
STAMP := $(VENV)/.mda-installed

.PHONY: venv lint test demo serve system-packages run-packages services
.NOTPARALLEL:

venv: $(STAMP)

# Reinstalled only when pyproject.toml changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

# Debian packages the tests need (mosquitto, mmdebstrap, chromium, prometheus), installed only when missing.
system-packages:
	deploy/system-packages.sh $(PYTHON)

# The TimescaleDB chroot, built once per machine and cached (skipped when the tests are
# pointed at an existing server with MDA_TEST_DATABASE_URL, or when not root: the fixtures
# then say what is missing).
services:
	@if [ -z "$$MDA_TEST_DATABASE_URL" ] && [ "$$(id -u)" = 0 ]; then deploy/timescaledb.sh build; fi

# The guards first (seconds): lint and format (ruff), the layers (import-linter), then the suite.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/python tests/lint_imports.py

test: system-packages venv services lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Running needs no test services: only a Python that can make a venv.
run-packages:
	deploy/system-packages.sh --run-only $(PYTHON)

demo:
	PYTHON=$(PYTHON) deploy/demo.sh

serve: run-packages venv
	$(VENV)/bin/mda serve
