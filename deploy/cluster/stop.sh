#!/usr/bin/env bash
# Stop what deploy/cluster/start.sh started in STATE_DIR (default .run/cluster): the UI server, the Temporal
# services (frontend first, so no new work arrives while history and matching drain), then PostgreSQL.
# The data stays: start.sh on the same directory brings the same cluster back. Delete the directory to forget it.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="${1:-$here/../../.run/cluster}"
[[ -d "$state/pids" ]] || { echo "cluster: nothing started in $state"; exit 0; }
stop_pid() {  # SIGTERM, up to 10 s to exit, then SIGKILL
  local pidfile="$1" pid
  [[ -f "$pidfile" ]] || return 0
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$pidfile"
}
stop_pid "$state/pids/ui.pid"
for name in frontend worker matching history; do
  for pidfile in "$state/pids/$name"-*.pid; do stop_pid "$pidfile"; done
done
pg_bin="$(dirname "$(compgen -G "/usr/lib/postgresql/*/bin/postgres" | sort -V | tail -n 1)")"
if [[ -f "$state/postgres/PG_VERSION" ]]; then
  if [[ "$(id -u)" -eq 0 ]]; then
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$state/postgres" -m fast stop >/dev/null 2>&1
  else
    "$pg_bin/pg_ctl" -D "$state/postgres" -m fast stop >/dev/null 2>&1
  fi
fi
echo "cluster: stopped ($state)"
