#!/bin/sh
# install-deps.sh — installs the Debian 12 packages llamac needs, if any are missing.
#
#   install-deps.sh demo    what building the library and the llamac program needs (`make demo`, `make build`)
#   install-deps.sh test    that, plus what the test suite needs (`make test`, `make asan`)
#   install-deps.sh --list demo|test    print the package list and exit
#
# Safe to run repeatedly: it installs only what dpkg does not list as installed, running `apt-get update` first,
# and uses sudo when not root. Why each package is needed: README.md, "Dependencies".
set -eu

# build-essential (C compiler, make), cmake, pkg-config: the build. libjansson-dev: JSON in the library
# (tokenizer.json, chat messages, tool calls). libedit-dev: line editing in `llamac chat`. libmicrohttpd-dev: the
# HTTP server of `llamac serve`.
DEMO_PKGS="build-essential cmake pkg-config libjansson-dev libedit-dev libmicrohttpd-dev"
# Tests only: libpcre2-dev is the oracle of the pre-tokenizer test; python3-torch / python3-numpy run the
# float64 reference model; python3-regex / python3-jinja2 cross-check the bundled model's tokenizer and chat
# template; nodejs / npm run the independent reference tokenizer (added below when `node` / `npm` are missing,
# since many machines carry a newer Node.js from elsewhere).
TEST_PKGS="libpcre2-dev python3 python3-torch python3-numpy python3-regex python3-jinja2"

list=0
if [ "${1:-}" = "--list" ]; then
    list=1
    shift
fi
case "${1:-}" in
demo) pkgs="$DEMO_PKGS" ;;
test) pkgs="$DEMO_PKGS $TEST_PKGS" ;;
*)
    echo "usage: $0 [--list] demo|test" >&2
    exit 2
    ;;
esac
if [ "$list" = 1 ]; then
    [ "$1" = test ] && pkgs="$pkgs nodejs npm"
    echo $pkgs
    exit 0
fi

missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ "$1" = test ]; then
    command -v node >/dev/null 2>&1 || missing="$missing nodejs"
    command -v npm >/dev/null 2>&1 || missing="$missing npm"
fi
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-deps: not root and no sudo: install these as root:$missing" >&2
        exit 1
    fi
    SUDO="sudo"
fi
$SUDO apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
