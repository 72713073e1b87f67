#!/usr/bin/env bash
# Flowise 3.1.2's marketplace chatflows and agentflows (Apache 2.0, its LICENSE.md kept
# beside them), taken from its npm tarball into the package (canvasflow/data/marketplaces,
# committed): the studio's template gallery and GET /api/v1/marketplaces/templates.
# Run again to take another Flowise version's.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:-3.1.2}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "flowise@$version" --silent >/dev/null \
  && tar xzf "flowise-$version.tgz" package/LICENSE.md package/marketplaces/chatflows \
     package/marketplaces/agentflowsv2)
dest=canvasflow/data/marketplaces
rm -rf "$dest"
mkdir -p "$dest"
cp -r "$tmp/package/marketplaces/chatflows" "$tmp/package/marketplaces/agentflowsv2" "$dest/"
cp "$tmp/package/LICENSE.md" "$dest/LICENSE.md"
echo "flowise@$version" > "$dest/SOURCE"
echo "vendored $(ls "$dest"/chatflows | wc -l) chatflows and $(ls "$dest"/agentflowsv2 | wc -l) agentflows of flowise@$version into $dest"
