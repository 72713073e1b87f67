#!/usr/bin/env bash
# Installs canvasflow and starts the server on http://127.0.0.1:3000 with the embedded model.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
exec .venv/bin/canvasflow serve "$@"
