#!/usr/bin/env bash
# Build the pinned Temporal CLI (dev server + Web UI) from its Go module into .tools/bin.
# Idempotent: reuses the binary when its version matches; Go's module and build caches stay in their default
# places so a fresh clone on the same machine rebuilds in seconds.
set -euo pipefail
CLI_VERSION="v1.5.1"   # later tags carry a `replace` directive in go.mod, which `go install` refuses
root="$(cd "$(dirname "$0")/.." && pwd)"
bin_dir="$root/.tools/bin"
stamp="$bin_dir/temporal.version"

if [[ -x "$bin_dir/temporal" && -f "$stamp" && "$(cat "$stamp")" == "$CLI_VERSION" ]]; then
  echo "temporal CLI $CLI_VERSION: reused ($bin_dir/temporal)"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install_temporal_cli: go not found: install Go 1.23+ (https://go.dev/doc/install or apt-get install -y golang)" >&2
  exit 1
fi
mkdir -p "$bin_dir"
echo "temporal CLI $CLI_VERSION: building from its Go module (first time takes a few minutes)..."
# GOFLAGS is cleared so a user's -mod=vendor or similar cannot break `go install pkg@version`.
# -ldflags stamps the version that `go install` leaves as 0.0.0-DEV (the release builds set it the same way).
if ! GOBIN="$bin_dir" GOFLAGS="" go install \
    -ldflags "-X github.com/temporalio/cli/temporalcli.Version=${CLI_VERSION#v}" \
    "github.com/temporalio/cli/cmd/temporal@${CLI_VERSION}"; then
  echo "install_temporal_cli: 'go install github.com/temporalio/cli/cmd/temporal@${CLI_VERSION}' failed." >&2
  echo "  If the Go checksum database cannot be reached, retry with GONOSUMDB=github.com/temporalio (go.sum pins still apply)." >&2
  exit 1
fi
echo "$CLI_VERSION" > "$stamp"
"$bin_dir/temporal" --version
