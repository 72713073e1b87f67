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
extras="[all]"
[ "${1:-}" = "test" ] && extras="[test]"
# llama.cpp built for a portable CPU baseline: a -march=native build can use instructions
# (AMX, some AVX-512 paths) that crash where the kernel or sandbox does not enable them
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
# nothing to do when the lock, the project's metadata and the extras are those of the
# last install (the code itself is installed editable: a checkout's changes need none)
stamp=.venv/.canvasflow-install
want="$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1) ${extras}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
  && .venv/bin/python -c "import canvasflow, llama_cpp" >/dev/null 2>&1; then
  echo "install: .venv is up to date" >&2
  exit 0
fi
# pip's noise that means nothing to a user (index locations, setuptools' banners) is cut
quiet() { grep -v -E '^WARNING: Location|^ *!!|^ *\*{8,}|editable_wheel|BuildBackendWarning|Please be careful|name as your package|precedence during imports|with strategy, WheelFile|^ *$' || true; }
# the locked versions first (requirements.lock), then the project and its extras
if ! .venv/bin/python -c "import llama_cpp" >/dev/null 2>&1; then
  echo "install: the locked packages, llama-cpp-python built from source (about 5 minutes the first time)..." >&2
else
  echo "install: the locked packages..." >&2
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock 2>&1 | quiet
echo "install: canvasflow${extras} (editable)..." >&2
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}" 2>&1 | quiet
.venv/bin/python -c "import canvasflow, llama_cpp; from canvasflow.models.local import default_model_path; assert default_model_path().is_file()"
# the embedded model must answer; a wheel from pip's cache built for another CPU may not
if ! .venv/bin/python scripts/check_local_model.py >/dev/null 2>&1; then
  echo "install: the cached llama-cpp-python does not run on this CPU; rebuilding it (about 5 minutes)" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-cache-dir --no-deps \
    --force-reinstall "llama-cpp-python==$(.venv/bin/python -c 'import llama_cpp; print(llama_cpp.__version__)')"
  .venv/bin/python scripts/check_local_model.py
fi
echo "$want" > "$stamp"
echo "install: done" >&2
