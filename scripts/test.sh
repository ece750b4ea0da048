#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite: lint, type check, tests.
# This is the README's test command and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
echo "== ruff"
ruff check edgeinfer devices converters tests bench examples
echo "== mypy"
mypy
echo "== import layering (contracts in pyproject.toml)"
lint-imports --no-cache
echo "== module size"
python scripts/check_size.py
echo "== pytest"
python -m pytest -p no:cacheprovider "$@"
