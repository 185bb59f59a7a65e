#!/bin/sh
# setup.sh — installs the pinned reference tokenizer (tests/node/package.json) into $LLAMAC_BUILD/tok-node with
# npm, for the differential tokenizer test and the bench. Skips the install when that version is present.
set -eu
: "${LLAMAC_BUILD:?}" "${LLAMAC_SOURCE:?}"
dir="$LLAMAC_BUILD/tok-node"
mkdir -p "$dir"
cp "$LLAMAC_SOURCE/tests/node/package.json" "$dir/package.json"
want=$(sed -n 's/.*"@lenml\/tokenizers": "\([^"]*\)".*/\1/p' "$dir/package.json")
have=$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$dir/node_modules/@lenml/tokenizers/package.json" 2>/dev/null || true)
if [ "$have" = "$want" ]; then
    echo "@lenml/tokenizers $have already installed in $dir"
    exit 0
fi
cd "$dir"
npm install --no-audit --no-fund --loglevel=error
echo "installed @lenml/tokenizers $want into $dir"
