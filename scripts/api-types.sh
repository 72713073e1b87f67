#!/usr/bin/env bash
# The studio's TypeScript types of the API, generated from the server's OpenAPI schema
# (openapi-typescript, a dev dependency of studio/): run after changing a route's models.
# tests/test_studio.py checks that studio/src/api-types.ts is current.
set -euo pipefail
cd "$(dirname "$0")/.."
schema="$(mktemp --suffix=.json)"
trap 'rm -f "$schema"' EXIT
.venv/bin/python -m canvasflow.cli openapi > "$schema"
(cd studio && npx --no-install openapi-typescript "$schema" -o src/api-types.ts --root-types >/dev/null)
echo "studio/src/api-types.ts written"
