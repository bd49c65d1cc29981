#!/usr/bin/env bash
# Bring up a real Temporal cluster on loopback: its own PostgreSQL, the schemas, then the services in a safe order
# (one history instance alone first: on an empty database, services started together race to write the first
# cluster record), a second history and matching instance, the `default` namespace with our search attributes,
# and the Web UI server. Returns once the frontend answers; the processes keep running (stop.sh ends them).
#
#   deploy/cluster/start.sh [STATE_DIR]          (default .run/cluster; reused: same ports, same data)
#
# Environment (all optional): CLUSTER_FRONTEND_PORT, CLUSTER_UI_PORT (default: free ports), CLUSTER_HISTORY=2,
# CLUSTER_MATCHING=2 (instances), CLUSTER_UI=1 (0: no UI server), TEMPORAL_HISTORY_SHARDS=16, TEMPORAL_LOG_LEVEL.
# Writes STATE_DIR/cluster.env (addresses, ports) and STATE_DIR/pids/<instance>.pid; logs in STATE_DIR/logs/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
state="$(mkdir -p "${1:-$root/.run/cluster}" && cd "${1:-$root/.run/cluster}" && pwd)"
tools="$root/.tools/temporal-cluster"
server="$tools/server/server" sql_tool="$tools/sql/sql" ui_server="$tools/ui/server"
temporal_cli="$root/.tools/bin/temporal"
for bin in "$server" "$sql_tool" "$temporal_cli"; do
  [[ -x "$bin" ]] || { echo "cluster: $bin missing: run scripts/install_cluster.sh" >&2; exit 1; }
done
python_bin="$root/.venv/bin/python"; [[ -x "$python_bin" ]] || python_bin=python3
mkdir -p "$state/logs" "$state/pids"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {  # wait_port PORT WHAT PIDFILE
  for _ in $(seq 1 600); do
    listening "$1" && return 0
    if [[ -n "${3:-}" ]] && ! kill -0 "$(cat "$3")" 2>/dev/null; then
      echo "cluster: $2 exited; its log:" >&2; tail -n 30 "$state/logs/$2.log" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "cluster: $2 did not listen on 127.0.0.1:$1 within 60 s" >&2; tail -n 30 "$state/logs/$2.log" >&2; exit 1
}

# Ports are chosen once and kept in ports.env, so a restarted cluster (same data) comes back where it was. They are
# all below 32768 (the cluster membership table keeps ports as smallint), outside Linux's ephemeral range, and all
# held at the same time while choosing, so no two are the same.
if [[ ! -f "$state/ports.env" ]]; then
  "$python_bin" - "${CLUSTER_FRONTEND_PORT:-0}" "${CLUSTER_UI_PORT:-0}" >"$state/ports.env" <<'PY'
import random, socket, sys
names = ["PG_PORT", "FRONTEND_GRPC_PORT", "UI_PORT", "FRONTEND_HTTP_PORT"]
for instance in ("frontend-1", "history-1", "history-2", "history-3", "matching-1", "matching-2", "matching-3",
                 "worker-1"):
    key = instance.replace("-", "_").upper()
    names += [f"{key}_GRPC", f"{key}_MEMBERSHIP", f"{key}_METRICS"]
fixed = {"FRONTEND_GRPC_PORT": int(sys.argv[1]), "UI_PORT": int(sys.argv[2])}
held, chosen = [], {}
candidates = random.sample(range(20000, 32000), 2000)
for name in names:
    if fixed.get(name):
        chosen[name] = fixed[name]
        continue
    while True:
        port = candidates.pop()
        if port in fixed.values():
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        held.append(s)
        chosen[name] = port
        break
for name, port in chosen.items():
    print(f"{name}={port}")
PY
fi
# shellcheck disable=SC1091
source "$state/ports.env"
FRONTEND_1_GRPC="$FRONTEND_GRPC_PORT"

# --- PostgreSQL: an instance of our own in the state directory, on loopback only --------------------------------
pg_bin="$(dirname "$(compgen -G "/usr/lib/postgresql/*/bin/postgres" | sort -V | tail -n 1)")"
pg_data="$state/postgres"
as_pg() { if [[ "$(id -u)" -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# PostgreSQL refuses to run as root: as root, it runs as the `postgres` user, who must be able to reach its data.
[[ "$(id -u)" -eq 0 ]] && chmod a+x "$state"
if [[ ! -f "$pg_data/PG_VERSION" ]]; then
  mkdir -p "$pg_data"; [[ "$(id -u)" -eq 0 ]] && chown postgres: "$pg_data" && chmod 700 "$pg_data"
  as_pg "$pg_bin/initdb" -D "$pg_data" -U postgres -A trust --no-sync >"$state/logs/initdb.log"
fi
[[ "$(id -u)" -eq 0 ]] && chown postgres: "$state/logs"
if ! as_pg "$pg_bin/pg_ctl" -D "$pg_data" status >/dev/null 2>&1; then
  as_pg "$pg_bin/pg_ctl" -D "$pg_data" -w -l "$state/logs/postgres.log" start \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $pg_data -c max_connections=300" >/dev/null
fi
psql_su() { "$pg_bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
export TEMPORAL_PG_PORT="$PG_PORT" TEMPORAL_PG_USER=temporal TEMPORAL_PG_PASSWORD=temporal
export TEMPORAL_DB=temporal TEMPORAL_VISIBILITY_DB=temporal_visibility
if [[ -z "$(psql_su -c "select 1 from pg_roles where rolname = 'temporal'")" ]]; then
  psql_su -c "create role temporal login createdb password 'temporal'"
fi

# --- Schemas: created once, then brought up to the server's version (the upgrade path on every start) --------
schema="$tools/schema/postgresql/v12"
sqlt() { "$sql_tool" --plugin postgres12 --ep 127.0.0.1 -p "$PG_PORT" -u temporal --pw temporal --db "$1" "${@:2}"; }
for pair in "temporal:temporal" "temporal_visibility:visibility"; do
  db="${pair%%:*}" dir="${pair##*:}"
  if [[ -z "$(psql_su -c "select 1 from pg_database where datname = '$db'")" ]]; then
    sqlt "$db" create-database >>"$state/logs/schema.log" 2>&1
    sqlt "$db" setup-schema -v 0.0 >>"$state/logs/schema.log" 2>&1
  fi
  sqlt "$db" update-schema -d "$schema/$dir/versioned" >>"$state/logs/schema.log" 2>&1 ||
    { echo "cluster: schema update of $db failed; see $state/logs/schema.log" >&2; exit 1; }
done

# --- The services ----------------------------------------------------------------------------------------------
export TEMPORAL_DYNAMIC_CONFIG="$here/dynamicconfig/cluster.yaml"
export FRONTEND_HTTP_PORT
start_instance() {  # start_instance SERVICE INDEX
  local service="$1" name="$1-$2" key
  key="${name//-/_}"; key="${key^^}"
  local pidfile="$state/pids/$name.pid" grpc_var="${key}_GRPC" member_var="${key}_MEMBERSHIP" metrics_var="${key}_METRICS"
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then return; fi
  local -a ports=(
    FRONTEND_GRPC_PORT="$FRONTEND_1_GRPC" FRONTEND_MEMBERSHIP_PORT="$FRONTEND_1_MEMBERSHIP"
    HISTORY_GRPC_PORT="$HISTORY_1_GRPC" HISTORY_MEMBERSHIP_PORT="$HISTORY_1_MEMBERSHIP"
    MATCHING_GRPC_PORT="$MATCHING_1_GRPC" MATCHING_MEMBERSHIP_PORT="$MATCHING_1_MEMBERSHIP"
    WORKER_GRPC_PORT="$WORKER_1_GRPC" WORKER_MEMBERSHIP_PORT="$WORKER_1_MEMBERSHIP"
  )
  # This instance's own ports override its service's defaults (the later assignment wins in env).
  ports+=("${service^^}_GRPC_PORT=${!grpc_var}" "${service^^}_MEMBERSHIP_PORT=${!member_var}")
  env "${ports[@]}" TEMPORAL_METRICS_PORT="${!metrics_var}" setsid "$server" --root "$here" --config config \
    --env cluster --allow-no-auth start --service "$service" >"$state/logs/$name.log" 2>&1 &
  echo $! >"$pidfile"
  # The worker service (Temporal's own system workflows) serves no gRPC: its membership port says it is up.
  if [[ "$service" == worker ]]; then wait_port "${!member_var}" "$name" "$pidfile"; else wait_port "${!grpc_var}" "$name" "$pidfile"; fi
}

histories="${CLUSTER_HISTORY:-2}" matchings="${CLUSTER_MATCHING:-2}"
start_instance history 1            # alone first: it writes the cluster record on an empty database
start_instance matching 1
start_instance frontend 1
start_instance worker 1
for i in $(seq 2 "$histories"); do start_instance history "$i"; done
for i in $(seq 2 "$matchings"); do start_instance matching "$i"; done

address="127.0.0.1:$FRONTEND_GRPC_PORT"
for _ in $(seq 1 600); do
  "$temporal_cli" operator cluster health --address "$address" >/dev/null 2>&1 && break
  sleep 0.1
done

# --- Namespace and search attributes (both idempotent) --------------------------------------------------------
if ! "$temporal_cli" operator namespace describe --address "$address" -n default >/dev/null 2>&1; then
  "$temporal_cli" operator namespace create --address "$address" -n default --retention 72h >/dev/null
fi
# The names and types come from workflows/search_attributes.py, the list the workflow itself upserts.
mapfile -t sa_flags < <(cd "$root" && "$python_bin" -m workflows.search_attributes | tr ' ' '\n')
create_sa=()
for ((i = 1; i < ${#sa_flags[@]}; i += 2)); do
  create_sa+=(--name "${sa_flags[i]%%=*}" --type "${sa_flags[i]##*=}")
done
for attempt in $(seq 1 100); do  # the new namespace reaches every frontend's cache within ~10 s
  if "$temporal_cli" operator search-attribute create --address "$address" -n default "${create_sa[@]}" \
      >>"$state/logs/register.log" 2>&1; then break; fi
  [[ "$attempt" -eq 100 ]] && { echo "cluster: search attributes not registered; see logs/register.log" >&2; exit 1; }
  sleep 0.3
done

# --- The Web UI server ------------------------------------------------------------------------------------------
ui_url=""
if [[ "${CLUSTER_UI:-1}" == "1" && -x "$ui_server" ]]; then
  mkdir -p "$state/ui/config"
  sed -e "s|@ADDRESS@|$address|" -e "s|@PORT@|$UI_PORT|" "$here/ui.yaml" >"$state/ui/config/cluster.yaml"
  if ! { [[ -f "$state/pids/ui.pid" ]] && kill -0 "$(cat "$state/pids/ui.pid")" 2>/dev/null; }; then
    setsid "$ui_server" --root "$state/ui" --env cluster start >"$state/logs/ui.log" 2>&1 &
    echo $! >"$state/pids/ui.pid"
    wait_port "$UI_PORT" ui "$state/pids/ui.pid"
  fi
  ui_url="http://127.0.0.1:$UI_PORT"
fi

cat >"$state/cluster.env" <<EOF
TEMPORAL_ADDRESS=$address
TEMPORAL_NAMESPACE=default
TEMPORAL_UI_URL=$ui_url
POSTGRES_PORT=$PG_PORT
EOF
echo "cluster: frontend $address (namespace default), $histories history + $matchings matching instances," \
  "PostgreSQL on 127.0.0.1:$PG_PORT"
[[ -n "$ui_url" ]] && echo "cluster: Web UI at $ui_url"
echo "cluster: workers: TEMPORAL_ADDRESS=$address .venv/bin/python -m workers; stop: deploy/cluster/stop.sh $state"
