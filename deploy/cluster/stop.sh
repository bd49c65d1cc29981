#!/usr/bin/env bash
# Stop what deploy/cluster/start.sh started in STATE_DIR (default .run/cluster): the UI server, the Temporal
# services (frontend first, so no new work arrives while history and matching drain), then PostgreSQL.
# The data stays: start.sh on the same directory brings the same cluster back. Delete the directory to forget it.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="${1:-$here/../../.run/cluster}"
[[ -d "$state/pids" ]] || { echo "cluster: nothing started in $state"; exit 0; }
stop_pids() {  # SIGTERM to every instance given, up to 10 s for all to exit, then SIGKILL to any left
  local pidfile pids=()
  for pidfile in "$@"; do
    [[ -f "$pidfile" ]] || continue
    pids+=("$(cat "$pidfile")")
    kill -TERM "${pids[-1]}" 2>/dev/null
    rm -f "$pidfile"
  done
  for _ in $(seq 1 100); do
    local alive=0 pid
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive -eq 0 ]] && return 0
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  return 0
}
# Tier by tier; the instances of one tier stop together (each takes ~2 s to leave the membership ring).
stop_pids "$state/pids/ui.pid"
stop_pids "$state/pids"/frontend-*.pid
stop_pids "$state/pids"/worker-*.pid "$state/pids"/matching-*.pid
stop_pids "$state/pids"/history-*.pid
pg_bin="$(dirname "$(compgen -G "/usr/lib/postgresql/*/bin/postgres" | sort -V | tail -n 1)")"
if [[ -f "$state/postgres/PG_VERSION" ]]; then
  if [[ "$(id -u)" -eq 0 ]]; then
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$state/postgres" -m fast stop >/dev/null 2>&1
  else
    "$pg_bin/pg_ctl" -D "$state/postgres" -m fast stop >/dev/null 2>&1
  fi
fi
echo "cluster: stopped ($state)"
