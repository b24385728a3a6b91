#!/usr/bin/env bash
# Runs cache-redis's real-server test binaries against Valkey instead of Redis.
#
# Usage: scripts/test-valkey.sh [valkey-server] [cli]
#   valkey-server  the server binary (default: valkey-server on PATH)
#   cli            valkey-cli or redis-cli (default: valkey-cli, else redis-cli)
#
# The harness (cache_testing::server) reads CACHE_TEST_REDIS_SERVER and
# CACHE_TEST_REDIS_CLI, so every topology (standalone, cluster, sentinel, TLS,
# ACL) runs unchanged. The TLS binary runs only when the server links OpenSSL
# (a Valkey built with BUILD_TLS=yes). Everything stays on 127.0.0.1.
set -euo pipefail

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
"$server_path" --version

tests=(conformance_standalone resilience acl sentinel cluster)
if ldd "$server_path" 2>/dev/null | grep -q libssl; then
    tests+=(tls)
else
    echo "note: $server_path does not link OpenSSL; skipping the TLS tests" >&2
fi

args=()
for t in "${tests[@]}"; do args+=(--test "$t"); done
CACHE_TEST_REDIS_SERVER="$server_path" CACHE_TEST_REDIS_CLI="$cli" \
    cargo test -p cache-redis "${args[@]}"
