"""Write a carried rollout state and its digest as a release of this code wrote them: the fixture of
``test_carried_state_compat.py``.

``python -m tests.unit.carried_state_fixture OUT.json`` with ``PYTHONPATH`` at a checkout of the release. The state
is built from ``docs/examples/support-assistant-v2.json`` with the record filled as a running rollout fills it, so
every nested model a continue-as-new carries (record, criteria, strategy, target, counters) is in the JSON.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from models.counters import Counters
from models.record import DeploymentRecord, strategy_of
from models.spec import RolloutSpec, criteria_fingerprint
from workflows.rollout.state import RolloutState, state_digest

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "support-assistant-v2.json"


def build() -> RolloutState:
    spec = RolloutSpec.model_validate_json(EXAMPLE.read_text())
    at = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    counters = Counters(requests=120_000, errors=240, latency_ms_buckets=[(100.0, 90_000), (float("inf"), 120_000)])
    return RolloutState(
        trust_operations=True,
        notify_patch=True,
        recovery_baseline=counters,
        record=DeploymentRecord(
            rollout_id="rollout-support-assistant",
            run_id="run-1",
            first_run_id="run-1",
            service=spec.service,
            requested_by=spec.requested_by,
            description=spec.description,
            stable=spec.stable,
            candidate=spec.candidate,
            strategy=strategy_of(spec),
            criteria=spec.criteria,
            rollback_triggers=spec.rollback_triggers,
            criteria_sha256=criteria_fingerprint(spec),
            judge="sequential",
            started_at=at,
        ),
    )


if __name__ == "__main__":
    state = build()
    Path(sys.argv[1]).write_text(json.dumps({"state": state.model_dump(mode="json"), "digest": state_digest(state)}))
