#!/bin/sh
# In the image's build stage: a wheel cannot hold symlinks, so a library that comes as
# libx.so, libx.so.0 and libx.so.0.25.3 is three copies. Each copy of the fully versioned
# file becomes a link to it again.
set -eu
find "$1" -name 'lib*.so.*.*' -type f | while read -r full; do
  for copy in "${full%.so.*}.so" "${full%.*.*}"; do
    if [ -f "$copy" ] && [ ! -L "$copy" ] && [ "$copy" != "$full" ] && cmp -s "$copy" "$full"; then
      ln -sf "$(basename "$full")" "$copy"
    fi
  done
done
