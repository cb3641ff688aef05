#!/bin/sh
# The demo on a fresh machine, without make: a virtual environment with mda in it, then
# `mda demo` (the embedded PostgreSQL, the built-in scenario, the map). Arguments go to
# `mda demo`, e.g. deploy/demo.sh --port 8090. `make demo` does the same.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
deploy/system-packages.sh --run-only "$PYTHON"
if [ ! -x .venv/bin/mda ] || [ pyproject.toml -nt .venv/.mda-installed ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
  touch .venv/.mda-installed
fi
exec .venv/bin/mda demo "$@"
