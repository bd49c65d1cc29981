#!/usr/bin/env bash
# The Unleash feature-flag server (npm `unleash-server`, the 6.x line: 7.x and later need Node 22, Debian bookworm
# carries Node 20) into .tools/unleash/, for the flag router's tests, its benchmark and the demo. It keeps its state
# in PostgreSQL: the Debian binaries that scripts/install_cluster.sh also uses (the tests start their own instance on
# loopback under /tmp, see tests/e2e/unleash_server.py). Idempotent: reused when the version stamp matches.
set -euo pipefail
UNLEASH_VERSION="6.10.1"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.tools/unleash"

if [[ -f "$dest/VERSION" && "$(cat "$dest/VERSION")" == "$UNLEASH_VERSION" && -d "$dest/node_modules/unleash-server" ]]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install_unleash: npm not found: install Node.js 18-20 with npm (Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
  echo "install_unleash: installing Node.js and npm with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
mkdir -p "$dest"
echo "install_unleash: installing unleash-server@$UNLEASH_VERSION with npm (a minute the first time)"
# A project of its own so the server's dependencies never mix with anything else; --omit=dev: only what runs.
[[ -f "$dest/package.json" ]] || echo '{"name": "durable-rollouts-unleash", "private": true}' >"$dest/package.json"
if ! (cd "$dest" && npm install --silent --no-audit --no-fund --omit=dev "unleash-server@$UNLEASH_VERSION" >/dev/null); then
  echo "install_unleash: 'npm install unleash-server@$UNLEASH_VERSION' failed (is the npm registry reachable?)" >&2
  exit 1
fi
echo "$UNLEASH_VERSION" >"$dest/VERSION"

# PostgreSQL from Debian, as scripts/install_cluster.sh installs it: only the binaries are used.
if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
  if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install_unleash: PostgreSQL missing: run as root on Debian, or install PostgreSQL 12+ yourself" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
echo "install_unleash: unleash-server $UNLEASH_VERSION ready in $dest"
