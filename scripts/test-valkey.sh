#!/usr/bin/env bash
# Runs the real-server test suites against Valkey instead of Redis.
#
# Usage: scripts/test-valkey.sh [valkey-server] [cli]
#   valkey-server  the server binary (default: valkey-server on PATH;
#                  scripts/install-valkey.sh prints the path of one)
#   cli            valkey-cli or redis-cli (default: valkey-cli, else redis-cli)
#
# The harness (cache_testing::server) reads CACHE_TEST_REDIS_SERVER and
# CACHE_TEST_REDIS_CLI, so every topology (standalone, cluster, sentinel, TLS,
# ACL) runs unchanged. The TLS targets run only when the server was built with
# TLS (and the cli speaks it). Everything stays on 127.0.0.1. Every suite runs
# even when an earlier one failed; the exit status is non-zero if any failed.
set -euo pipefail

# What runs: every test target of these packages (PACKAGE) or one target
# (PACKAGE:TEST). VALKEY_SUITES (space-separated, same form) replaces the list.
# They run in ONE `cargo test --workspace --test ...` invocation, so cargo
# resolves features exactly as for the plain `cargo test` that ran before and
# reuses its build instead of compiling the crates again per package.
SUITES=(
    cache-redis
    cache-manager:isolation_redis
    cache-http:http
    workspace-tests
)
# Test targets that need a server built with TLS; left out when it has none.
TLS_TARGETS=(tls)

if [[ -n "${VALKEY_SUITES:-}" ]]; then
    read -r -a SUITES <<<"$VALKEY_SUITES"
fi

cd "$(dirname "$0")/.."

server="${1:-valkey-server}"
cli="${2:-}"
if [[ -z "$cli" ]]; then
    if command -v valkey-cli >/dev/null; then cli=valkey-cli; else cli=redis-cli; fi
fi
server_path="$(command -v "$server" || true)"
if [[ -z "$server_path" ]]; then
    echo "no server binary '$server' (pass its path as the first argument)" >&2
    exit 2
fi
cli_path="$(command -v "$cli" || true)"
if [[ -z "$cli_path" ]]; then
    echo "no cli binary '$cli' (pass valkey-cli or redis-cli as the second argument)" >&2
    exit 2
fi
"$server_path" --version
"$cli_path" --version

# Whether the server can serve TLS: linked against OpenSSL, or, for a static
# build, not refusing a TLS port for want of TLS support (a build with TLS but
# no certificate configured refuses it for that reason instead).
server_has_tls() {
    # (Output captured first: `ldd | grep -q` can fail under pipefail when
    # grep quits early and ldd dies of SIGPIPE.)
    local libs
    libs="$(ldd "$server_path" 2>/dev/null || true)"
    if grep -q libssl <<<"$libs"; then
        return 0
    fi
    local dir out
    dir="$(mktemp -d)"
    out="$(cd "$dir" && { timeout 10 "$server_path" --port 0 --tls-port 1 \
        --save '' --appendonly no --dir "$dir" 2>&1 || true; })"
    rm -rf "$dir"
    ! grep -qiE 'TLS support|connection type tls|unrecognized|Bad directive' <<<"$out"
}

tls=yes
if ! server_has_tls; then
    tls=no
    echo "note: $server_path has no TLS support; skipping the test targets: ${TLS_TARGETS[*]}" >&2
elif ! grep -q -- '--tls' <<<"$("$cli_path" --help 2>&1 || true)"; then
    tls=no
    echo "note: $cli_path has no TLS support; skipping the test targets: ${TLS_TARGETS[*]}" >&2
fi

is_tls_target() {
    local t
    for t in "${TLS_TARGETS[@]}"; do [[ "$t" == "$1" ]] && return 0; done
    return 1
}

# The test targets of `pkg`, one per line.
tests_of() {
    cargo metadata --no-deps --format-version 1 --locked | python3 -c '
import json, sys
pkg = sys.argv[1]
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == pkg:
        for t in p["targets"]:
            if "test" in t["kind"]:
                print(t["name"])
' "$1"
}

args=()
for suite in "${SUITES[@]}"; do
    pkg="${suite%%:*}"
    if [[ "$suite" == *:* ]]; then
        targets="${suite#*:}"
    else
        targets="$(tests_of "$pkg")"
        if [[ -z "$targets" ]]; then
            echo "no test targets in package $pkg" >&2
            exit 2
        fi
    fi
    for target in $targets; do
        if [[ "$tls" == no ]] && is_tls_target "$target"; then
            echo "note: skipping $pkg:$target (needs TLS)" >&2
            continue
        fi
        args+=(--test "$target")
    done
done

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
start=$SECONDS
printf '\n==> valkey: cargo test --workspace %s\n' "${args[*]}"
CACHE_TEST_REDIS_SERVER="$server_path" CACHE_TEST_REDIS_CLI="$cli_path" \
    cargo test --workspace --locked --no-fail-fast "${args[@]}" </dev/null 2>&1 | tee "$log" ||
    status=1

# One closing line over every test binary that ran.
read -r passed failed ignored < <(awk '
    /^test result: / {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed;?$/) p += $i
            if ($(i + 1) ~ /^failed;?$/) f += $i
            if ($(i + 1) ~ /^ignored;?$/) g += $i
        }
    }
    END { print p + 0, f + 0, g + 0 }' "$log")
printf '\nvalkey (%s, TLS %s) in %ds\n' "$("$server_path" --version | awk '{print $3}')" \
    "$tls" "$((SECONDS - start))"
echo "valkey: $passed passed, $failed failed, $ignored skipped"
if ((status != 0)); then
    echo "valkey: FAILED" >&2
    exit 1
fi
