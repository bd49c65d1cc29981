#!/usr/bin/env bash
# `make run`: the Temporal dev server with its Web UI, the worker, the service (two model servers behind a real
# nginx, a real Prometheus, steady load through nginx) and a demo rollout started from the Temporal CLI.
# CANDIDATE=regressed makes the candidate's error rate 3x stable's. Ctrl-C stops everything this script started.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
temporal=".tools/bin/temporal"
py=".venv/bin/python"
run_dir=".run"; data_dir=".data"
mkdir -p "$run_dir" "$data_dir"
workflow_id="rollout-support-assistant"
candidate_mode="${CANDIDATE:-healthy}"

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping: ${pids[*]:-nothing}"
  for pid in "${pids[@]:-}"; do [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT   # a signal ends the script here, instead of resuming after the handler
trap 'cleanup; exit 143' TERM

for port in 7233 8233; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "make run: port $port is already in use (another 'make run'?): stop it first" >&2; exit 1
  fi
done

echo "starting the Temporal dev server (SQLite: $data_dir/temporal.db, UI: http://localhost:8233)"
# shellcheck disable=SC2046  # the flags are words on purpose
"$temporal" server start-dev --ip 127.0.0.1 --port 7233 --ui-port 8233 --db-filename "$data_dir/temporal.db" \
  --log-level warn --dynamic-config-value system.enableActivityEagerExecution=true \
  --sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal \
  $("$py" -m workflows.search_attributes) >"$run_dir/temporal.log" 2>&1 &
pids+=($!)
until "$temporal" operator cluster health --address 127.0.0.1:7233 >/dev/null 2>&1; do
  kill -0 "${pids[0]}" 2>/dev/null || { echo "dev server exited: see $run_dir/temporal.log" >&2; exit 1; }
  sleep 0.3
done

spec="$run_dir/demo-spec.json"
rm -f "$spec"
echo "starting the service: model servers v1 and v2, nginx in front, Prometheus, load through nginx (candidate: $candidate_mode)"
"$py" -m simulator.demo --candidate "$candidate_mode" --spec-out "$spec" >"$run_dir/demo.log" 2>&1 &
pids+=($!)
until [[ -s "$spec" ]]; do
  kill -0 "${pids[1]}" 2>/dev/null || { echo "the service failed to start: see $run_dir/demo.log" >&2; exit 1; }
  sleep 0.3
done

# The operators' side (docs/security.md): demo keys for the requester and the three approvers (no passphrase: a
# demo only), and a policy listing them, with the stand that simulator.demo started as the target "demo". The
# spec names that target; nginx's paths and Prometheus' address live only here. Decisions count only when signed.
keys="$run_dir/keys"
"$py" -m workers.cli.demo "$keys" "$run_dir/policy.json" "$run_dir/demo-spec-target.json"
export ROLLOUTS_POLICY_PATH="$run_dir/policy.json"
rollouts=".venv/bin/rollouts"

echo "starting the worker (logs: $run_dir/worker.log)"
TEMPORAL_ADDRESS=127.0.0.1:7233 "$py" -m workers >"$run_dir/worker.log" 2>&1 &
pids+=($!)
until "$temporal" task-queue describe --task-queue rollouts --address 127.0.0.1:7233 2>/dev/null | grep -q "workflow"; do
  kill -0 "${pids[2]}" 2>/dev/null || { echo "worker exited: see $run_dir/worker.log" >&2; exit 1; }
  sleep 0.3
done

# A demo rollout left running by an interrupted `make run` points at that run's nginx and Prometheus, which are
# gone (every run starts them on new ports): end it, saying why, rather than let it fail against dead ports.
if "$temporal" workflow count --address 127.0.0.1:7233 \
    --query "WorkflowId=\"$workflow_id\" AND ExecutionStatus=\"Running\"" 2>/dev/null | grep -q "Total: [1-9]"; then
  "$temporal" workflow terminate --workflow-id "$workflow_id" --address 127.0.0.1:7233 \
    --reason "make run restarted: the previous demo's processes are gone" >/dev/null
  echo "ended the previous demo rollout (its processes were gone); its history stays in the UI"
fi
"$rollouts" sign-spec "$spec" --key "$keys/ml-engineer" --workflow-id "$workflow_id" --valid-for 30m --output "$spec.signed" && mv "$spec.signed" "$spec"
echo "starting the demo rollout (spec signed by ml-engineer)"
# The static Details (the plan: steps, criteria and their hash, policies) come from the spec itself.
"$temporal" workflow start --address 127.0.0.1:7233 --type Rollout --task-queue rollouts \
  --workflow-id "$workflow_id" --input-file "$spec" \
  --static-summary "support-assistant v1 -> v2 (demo, compressed schedule)" \
  --static-details "$("$py" -m workflows.rollout.static_details "$spec")"
list_url='http://localhost:8233/namespaces/default/workflows?query=WorkflowType%3D%22Rollout%22'

cat <<MSG

  Web UI:   http://localhost:8233/namespaces/default/workflows/$workflow_id  (Current Details is the dashboard)
  All rollouts, with phase, weight and outcome columns (docs/ui-tour.md): $list_url
  Status:   $temporal workflow query --workflow-id $workflow_id --name status
  Each step (25%, then 50%) moves on when every criterion passes on the real traffic (1,500 requests/s).
  The last step then waits for 2 signed approvals of ml-lead, sre-oncall, product-owner, a few minutes in (phase
  awaiting_approval); without them it rolls back 15 minutes later (the deadline is in Current Details and in
  status's approval_deadline):
            TEMPORAL_ADDRESS=127.0.0.1:7233 $rollouts approve $workflow_id --key $keys/ml-lead --reason "dashboards fine"
            TEMPORAL_ADDRESS=127.0.0.1:7233 $rollouts approve $workflow_id --key $keys/sre-oncall
  A forged one is refused, and recorded:
            $temporal workflow update execute --workflow-id $workflow_id --name approve --input '{"approver": "ml-lead"}'
  Should a step's evidence stay inconclusive (a busy machine sends less traffic), it is extended once, then held
  (phase "inconclusive"); an approver may then move it on, and the reason lands in the record:
            TEMPORAL_ADDRESS=127.0.0.1:7233 $rollouts promote $workflow_id --key $keys/ml-lead --reason "demo: too little traffic to prove the criteria"
  Abort:    $temporal workflow update execute --workflow-id $workflow_id --name abort --input '{"by": "you", "reason": "demo"}'
  Kill switch (abort, then wait until the router confirms everyone on stable):
            TEMPORAL_ADDRESS=127.0.0.1:7233 $rollouts kill ${workflow_id#rollout-} --key $keys/sre-oncall --reason "demo: kill"
  Start your own once this one has ended (one rollout per service; execute waits and prints the outcome or why not).
  A signed spec starts only the workflow id it was signed for, so sign it again for the new id first:
            $rollouts sign-spec $spec --key $keys/ml-engineer --workflow-id rollout-support-assistant-2 --valid-for 30m --output $run_dir/my-spec.json
            $temporal workflow execute --type Rollout --task-queue rollouts \\
              --workflow-id rollout-support-assistant-2 --input-file $run_dir/my-spec.json
  Rollback drill (docs/drills.md), once the rollout has ended (a drill takes the service's lease, so it refuses
  beside a rollout, and it refuses on a router not resting on stable, as after a promotion; CANDIDATE=regressed
  ends on stable). One now, printing the time to verified stable; then one a week, on the UI's Schedules page
  (http://localhost:8233/namespaces/default/schedules):
            TEMPORAL_ADDRESS=127.0.0.1:7233 $rollouts drill run support-assistant
            TEMPORAL_ADDRESS=127.0.0.1:7233 $rollouts drill schedule support-assistant --every 7d --target demo

  The demo as a Pipeline (docs/pipelines.md), once the rollout has ended: staging, then production after a signed
  promotion, each stage a child Rollout on the demo stand (pipeline-support-assistant--staging, --production) whose
  last step waits for 2 signed approvals as above; the requester's one signature stands for both stages:
            TEMPORAL_ADDRESS=127.0.0.1:7233 $rollouts pipeline start $run_dir/demo-pipeline.json --key $keys/ml-engineer --valid-for 30m
            TEMPORAL_ADDRESS=127.0.0.1:7233 $rollouts approve pipeline-support-assistant--staging --key $keys/ml-lead --yes
            TEMPORAL_ADDRESS=127.0.0.1:7233 $rollouts approve pipeline-support-assistant--staging --key $keys/sre-oncall --yes
            TEMPORAL_ADDRESS=127.0.0.1:7233 $rollouts pipeline status support-assistant
            TEMPORAL_ADDRESS=127.0.0.1:7233 $rollouts pipeline promote support-assistant --stage production --key $keys/ml-lead --reason "staging green" --yes
            (then approve pipeline-support-assistant--production's last step the same way)

  Waiting for the rollout to finish (Ctrl-C stops everything)...
MSG

# In the background and waited on: bash runs the trap at once only while it waits, not while a foreground child runs.
"$py" -m workers.show_record "$workflow_id" --address 127.0.0.1:7233 &
pids+=($!)
wait "${pids[-1]}" || true
echo "Everything is still running for you to explore; Ctrl-C to stop."
wait "${pids[0]}"
