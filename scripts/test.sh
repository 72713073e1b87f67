#!/usr/bin/env bash
# Installs canvasflow with its test dependencies, starts PostgreSQL and Redis, and runs
# every test (lint included). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh test
./scripts/services.sh
# Node.js 20+ runs the JavaScript clients of the guide
if ! command -v node >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null 2>&1
fi
# Debian's Chromium drives the chat page's browser tests (Playwright uses it as is)
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1
fi
# bubblewrap: the operating-system sandbox of Python custom tools (their tests use it)
if ! command -v bwrap >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null 2>&1
fi
# the published flowise-sdk, exactly as locked; the studio's packages (its unit tests)
(cd tests/js && npm ci --no-audit --no-fund --silent)
(cd studio && npm ci --no-audit --no-fund --silent)
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
