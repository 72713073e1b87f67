#!/usr/bin/env bash
# The TypeScript types of the API, generated from the server's OpenAPI schema
# (openapi-typescript, a dev dependency of studio/): the studio's (every route) and the
# TypeScript SDK's (the prediction routes), then the SDK built from its TypeScript.
# Run after changing a route's models; tests check that both are current.
set -euo pipefail
cd "$(dirname "$0")/.."
schema="$(mktemp --suffix=.json)"
sdk_schema="$(mktemp --suffix=.json)"
trap 'rm -f "$schema" "$sdk_schema"' EXIT
.venv/bin/python -m canvasflow.cli openapi > "$schema"
.venv/bin/python -m canvasflow.cli openapi --path /api/v1/prediction/ \
  --path /api/v1/chatmessage/abort/ > "$sdk_schema"
(cd studio && npx --no-install openapi-typescript "$schema" -o src/api-types.ts --root-types >/dev/null)
echo "studio/src/api-types.ts written"
(cd studio && npx --no-install openapi-typescript "$sdk_schema" \
  -o ../clients/typescript/src/api-types.ts --root-types >/dev/null)
(cd clients/typescript && npx --no-install tsc -p tsconfig.json)
echo "clients/typescript/src/api-types.ts written, the SDK built (index.js, index.d.ts)"
