#!/usr/bin/env bash
# Builds canvasflow's images and exercises them (scripts/check_container.py says what):
# not part of the test run, it takes minutes (llama.cpp compiles in each image build).
# Needs a container engine: on a machine that reaches no image registry, the steering
# repo's tools/container-engine.sh installs Docker and builds the base image locally.
#   ./scripts/check_container.sh [--skip-build] [--only NAME ...]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! docker info >/dev/null 2>&1; then
  if [ -x ../shared/tools/container-engine.sh ]; then
    bash ../shared/tools/container-engine.sh
  else
    echo "check_container: no container engine answers (docker info)" >&2
    exit 1
  fi
fi
[ -x .venv/bin/python ] || ./scripts/install.sh test
./scripts/services.sh
exec .venv/bin/python scripts/check_container.py "$@"
