#!/usr/bin/env bash
# Everything a fresh machine needs, idempotent: the virtualenv with pinned packages, the Temporal CLI built from
# its Go module, and the Java time-skipping test server from Maven Central. Each part is reused when present.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

python_bin="${PYTHON:-python3}"
if ! command -v "$python_bin" >/dev/null 2>&1; then
  echo "setup: $python_bin not found: install Python 3.11+" >&2; exit 1
fi
if ! "$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: $("$python_bin" --version) is too old: Python 3.11+ is required" >&2; exit 1
fi

# The lock's hash decides whether the venv is current, so an edit to it reinstalls and nothing else does.
stamp=".venv/.installed"
want="$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "setup: installing Python packages into .venv"
  [[ -x .venv/bin/python ]] || "$python_bin" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
  echo "$want" > "$stamp"
else
  echo "setup: .venv is current"
fi

bash scripts/install_temporal_cli.sh
bash scripts/install_test_server.sh
bash scripts/install_servers.sh   # nginx and Prometheus from Debian, for the end-to-end tests and the demo
bash scripts/install_unleash.sh   # the Unleash flag server (npm) on PostgreSQL, for the flag router's tests
bash scripts/install_docker.sh    # Debian's Docker engine and debootstrap: the worker image of the cluster test
