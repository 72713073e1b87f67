#!/usr/bin/env bash
# Installs canvasflow with its test dependencies, starts PostgreSQL and Redis, and runs
# every test (lint and the type check included). Extra arguments go to pytest.
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
# the Kubernetes manifests' checks: kubectl (kustomize), and in a venv of their own (their
# pins are not canvasflow's) the schema validator and the policy scanner
if ! command -v kubectl >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null 2>&1
fi
if [ ! -x .venv-tools/bin/checkov ] || [ ! -x .venv-tools/bin/kubernetes-validate ]; then
  "${PYTHON:-python3}" -m venv .venv-tools
  .venv-tools/bin/python -m pip install -q --disable-pip-version-check \
    kubernetes-validate==1.37.0 checkov==3.3.30 2>&1 | grep -v '^WARNING: Location' || true
fi
# Arize Phoenix, the LLM trace viewer the trace tests send to (tests/test_phoenix.py), in a
# virtualenv of its own: its many dependencies stay out of canvasflow's (about 2 minutes)
if [ ! -x .venv-phoenix/bin/phoenix ]; then
  echo "test: installing Arize Phoenix 20.26.1 into .venv-phoenix (about 2 minutes)..." >&2
  "${PYTHON:-python3}" -m venv .venv-phoenix
  .venv-phoenix/bin/python -m pip install -q --disable-pip-version-check \
    arize-phoenix==20.26.1 2>&1 | grep -v '^WARNING: Location' || true
fi
# the published flowise-sdk, exactly as locked; the studio's packages (its unit tests)
(cd tests/js && npm ci --no-audit --no-fund --silent)
(cd studio && npm ci --no-audit --no-fund --silent)
(cd clients/typescript && npm ci --no-audit --no-fund --silent)  # the SDK's TypeScript compiler
# Flowise 3.1.2's marketplace templates (from its npm tarball; the import tests read them)
if [ ! -d tests/js/flowise-3.1.2/marketplaces ]; then
  (cd tests/js && npm pack flowise@3.1.2 --silent >/dev/null && mkdir -p flowise-3.1.2 \
    && tar xzf flowise-3.1.2.tgz -C flowise-3.1.2 --strip-components=1 package/marketplaces \
    && rm -f flowise-3.1.2.tgz)
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy  # [tool.mypy] in pyproject.toml: canvasflow/, no error
# two test processes, a test file each at a time (its fixtures' servers are its own):
# servers' start-ups, schedules' ticks and timeouts overlap; PYTEST_WORKERS=0 runs one
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" --dist loadfile "$@"
