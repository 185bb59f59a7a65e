#!/bin/sh
# setup.sh — installs the pinned playwright-core (tests/web/package.json) into $LLAMAC_BUILD/web-node with npm,
# for the browser tests of the chat page. playwright-core downloads no browser: the tests drive the system
# Chromium (Debian: chromium). Skips the install when that version is present.
set -eu
: "${LLAMAC_BUILD:?}" "${LLAMAC_SOURCE:?}"
dir="$LLAMAC_BUILD/web-node"
mkdir -p "$dir"
cp "$LLAMAC_SOURCE/tests/web/package.json" "$dir/package.json"
want=$(sed -n 's/.*"playwright-core": "\([^"]*\)".*/\1/p' "$dir/package.json")
have=$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$dir/node_modules/playwright-core/package.json" 2>/dev/null || true)
if [ "$have" != "$want" ]; then
    cd "$dir"
    npm install --no-audit --no-fund --loglevel=error
    echo "installed playwright-core $want into $dir"
else
    echo "playwright-core $have already installed in $dir"
fi
for b in chromium chromium-browser; do
    command -v "$b" >/dev/null 2>&1 && exit 0
done
echo "setup.sh: no chromium on PATH: install it (scripts/install-deps.sh test does)" >&2
exit 1
