"""What the cluster test prints when it fails: the cause must be in it, the noise of a failover kept short."""

from __future__ import annotations

import json
from pathlib import Path

from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from tests.cluster.cluster import Cluster
from tests.cluster.diagnosis import failure_chain, problems, report, story


def _line(event: str, level: str = "info", at: str = "2026-12-05T07:14:15Z", **extra: str) -> str:
    return json.dumps({"event": event, "level": level, "timestamp": at, **extra})


def test_a_workflow_failure_names_the_workflow_s_own_reason() -> None:
    refused = ApplicationError("carried: the state does not match the digest its run wrote", type="CarriedStateRefused")
    try:
        try:
            raise refused
        except ApplicationError as cause:
            raise WorkflowFailureError(cause=cause) from cause
    except WorkflowFailureError as exc:
        text = failure_chain(exc)
    assert "CarriedStateRefused: carried: the state does not match the digest" in text


def test_errors_are_kept_ahead_of_a_failover_s_many_warnings() -> None:
    log = "\n".join(
        [
            _line("carried state refused", "error", workflow_id="rollout-svc-a"),
            *(_line("Completing activity as failed", "warning") for _ in range(50)),
            "\x1b[33m WARN\x1b[0m temporalio_client::retry: gRPC call retried 5 times",
            _line('HTTP Request: GET http://127.0.0.1/metrics "HTTP/1.1 500"', "error"),
        ]
    )
    kept = problems(log, limit=3)
    assert "carried state refused" in kept[0]
    assert len(kept) == 1 + 1 + 3  # the error, the marker, the last three warnings
    assert "gRPC call retried" in kept[-1]
    assert not any("HTTP Request" in line for line in kept)


def test_a_rollout_s_story_is_in_time_order_across_workers() -> None:
    one = _line("continue-as-new", at="2026-12-05T07:14:14Z", workflow_id="rollout-svc-a")
    other = _line("carried state refused", "error", at="2026-12-05T07:14:15Z", workflow_id="rollout-svc-a")
    unrelated = _line("started", workflow_id="rollout-svc-b")
    lines = story("rollout-svc-a", [other, f"{one}\n{unrelated}"])
    assert ["continue-as-new" in lines[0], "carried state refused" in lines[1], len(lines)] == [True, True, 2]


def test_the_report_holds_the_rollout_s_story_and_every_server_instance(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "history-1.log").write_text('{"level":"error","msg":"shard ownership lost"}\n')
    worker = _line("carried state refused", "error", workflow_id="rollout-svc-a")
    text = report(
        what="1 of 50 rollouts went wrong",
        wrong=[("approved svc-a: no result", "rollout-svc-a")],
        worker_logs={"worker-1": worker},
        cluster=Cluster(address="127.0.0.1:7233", state=tmp_path),
    )
    assert text.startswith("1 of 50 rollouts went wrong")
    assert "--- rollout-svc-a: its last lines" in text and "carried state refused" in text
    assert "shard ownership lost" in text and "--- server history-2" in text
