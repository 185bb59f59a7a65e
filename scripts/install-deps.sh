#!/bin/sh
# install-deps.sh — installs the Debian packages llamac needs to build and test, if any are missing.
# Safe to run repeatedly; uses sudo when not root. Used by `make demo` / `make test` and by CI.
set -eu
PKGS="build-essential cmake pkg-config libpcre2-dev libjansson-dev libedit-dev python3-torch python3-numpy python3-regex python3-jinja2"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node.js 20 runs the independent reference tokenizer in the tests; machines here ship it preinstalled
# (nodesource), elsewhere Debian's nodejs + npm do.
command -v node >/dev/null 2>&1 || missing="$missing nodejs npm"
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
