#!/usr/bin/env bash
# Install the servers that the scale-out backends' tests start on loopback (Redis for the KV
# pool's remote tier), from Debian's packages, when they are missing and we may install them.
# Nothing here is required to run blacksoil: without a server, those tests skip and say why.
set -uo pipefail

if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: redis-server is not installed (apt-get install redis-server); the Redis tier's tests will skip" >&2
  exit 0
fi
echo "installing redis-server (for the KV pool's remote-tier tests)…" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends redis-server >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends redis-server >/dev/null 2>&1 \
    || echo "note: could not install redis-server; the Redis tier's tests will skip" >&2
fi
exit 0
