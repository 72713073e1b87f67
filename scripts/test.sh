#!/usr/bin/env bash
# Installs canvasflow with its test dependencies, starts PostgreSQL and Redis, and runs
# every test (lint included). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh test
./scripts/services.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
