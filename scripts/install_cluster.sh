#!/usr/bin/env bash
# The pieces of a real Temporal cluster, pinned and built from their Go modules into .tools/temporal-cluster/:
# the server (frontend, history, matching, worker services), the SQL schema tool with the PostgreSQL schemas that
# ship inside the server's module, and the Web UI server; PostgreSQL itself from Debian. Only `make cluster`, the
# cluster tests and bench/scale call this: the everyday set-up (scripts/setup.sh) does not need a cluster.
# Idempotent: each piece is reused when its version stamp matches. Go's caches stay in their default places.
set -euo pipefail
SERVER_VERSION="v1.29.1"    # newer tags need a newer Go than Debian bookworm's machines carry
UI_VERSION="v2.42.1"        # the UI server the Temporal CLI v1.5.x embeds
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.tools/temporal-cluster"
mkdir -p "$dest"

have() { [[ -x "$1" && -f "$2" && "$(cat "$2")" == "$3" ]]; }

# Two of the binaries are called `server`: each gets its own GOBIN so neither overwrites the other.
build() {  # build NAME PACKAGE@VERSION STAMP_VALUE
  local name="$1" pkg="$2" want="$3" bin_dir="$dest/$1"
  local binary="$bin_dir/$(basename "${pkg%@*}")"
  if have "$binary" "$bin_dir/VERSION" "$want"; then
    echo "install_cluster: $name $want reused"
    return
  fi
  if ! command -v go >/dev/null 2>&1; then
    echo "install_cluster: go not found: install Go 1.23+ to build $pkg" >&2
    exit 1
  fi
  mkdir -p "$bin_dir"
  echo "install_cluster: building $pkg (a few minutes the first time)"
  # -mod=mod: the server's go.mod is complete without vendoring; nice: the build shares the machine.
  if ! GOBIN="$bin_dir" GOFLAGS=-mod=mod nice -n 10 go install "$pkg"; then
    echo "install_cluster: 'go install $pkg' failed (is the Go module proxy reachable?)" >&2
    exit 1
  fi
  echo "$want" >"$bin_dir/VERSION"
}

build server "go.temporal.io/server/cmd/server@$SERVER_VERSION" "$SERVER_VERSION"
build sql "go.temporal.io/server/cmd/tools/sql@$SERVER_VERSION" "$SERVER_VERSION"
if [[ "${CLUSTER_UI:-1}" == "1" ]]; then  # CLUSTER_UI=0 (the tests): no Web UI, one build fewer
  build ui "github.com/temporalio/ui-server/v2/cmd/server@$UI_VERSION" "$UI_VERSION"
fi

# The schemas of the exact server version, copied out of the module cache so a later `go clean -modcache`
# cannot take them away from a running cluster's upgrade path.
if [[ ! -f "$dest/schema/VERSION" || "$(cat "$dest/schema/VERSION")" != "$SERVER_VERSION" ]]; then
  module_dir="$(GOFLAGS=-mod=mod go mod download -json "go.temporal.io/server@$SERVER_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  if [[ -z "$module_dir" || ! -d "$module_dir/schema/postgresql/v12" ]]; then
    echo "install_cluster: PostgreSQL schemas not found in go.temporal.io/server@$SERVER_VERSION" >&2
    exit 1
  fi
  rm -rf "$dest/schema" && mkdir -p "$dest/schema"
  cp -r "$module_dir/schema/postgresql" "$dest/schema/"
  chmod -R u+w "$dest/schema"
  echo "$SERVER_VERSION" >"$dest/schema/VERSION"
fi

# PostgreSQL from Debian. The cluster runs its own PostgreSQL instance in its state directory (see
# deploy/cluster/start.sh), so only the binaries are needed; the package's own 15/main service is left alone.
if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
  if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install_cluster: PostgreSQL missing: run as root on Debian, or install PostgreSQL 12+ yourself" >&2
    exit 1
  fi
  echo "install_cluster: installing PostgreSQL with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
echo "install_cluster: ready in $dest"
