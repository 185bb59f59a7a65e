#!/bin/sh
# setup.sh — installs the pinned official `openai` npm client (tests/node/openai/package.json) into
# $LLAMAC_BUILD/openai-node for the server's client test. Skips the install when that version is present.
set -eu
: "${LLAMAC_BUILD:?}" "${LLAMAC_SOURCE:?}"
dir="$LLAMAC_BUILD/openai-node"
mkdir -p "$dir"
cp "$LLAMAC_SOURCE/tests/node/openai/package.json" "$dir/package.json"
want=$(sed -n 's/.*"openai": "\([^"]*\)".*/\1/p' "$dir/package.json")
have=$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$dir/node_modules/openai/package.json" 2>/dev/null || true)
if [ "$have" = "$want" ]; then
    echo "openai $have already installed in $dir"
    exit 0
fi
cd "$dir"
npm install --no-audit --no-fund --loglevel=error
echo "installed openai $want into $dir"
