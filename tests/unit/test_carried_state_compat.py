"""A state carried across continue-as-new by an older release is accepted by this one.

The next run checks the digest the previous run wrote over the state's JSON (``carried_refusal``). A field added
later that appears in the JSON at its default would change the digest of every state an older release carried,
and every long rollout that continued as new across the upgrade would be refused. So fields added to the state
(and to what it holds: the record, counters, criteria) stay out of the JSON while at their default. The fixture
was written by ``tests/unit/carried_state_fixture.py`` at b882b63, the first release with the digest.
"""

from __future__ import annotations

import json
from pathlib import Path

from models.counters import Counters, CustomValue
from models.custom_metrics import CustomVerdict
from models.record import AnalysisEntry
from tests.unit.carried_state_fixture import build
from workflows.judge import new_judge_state
from workflows.judge.models import CustomTestState
from workflows.rollout.state import CustomCounts, RolloutState, state_digest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_a_state_carried_by_the_first_release_with_a_digest_keeps_its_digest() -> None:
    written = json.loads((FIXTURES / "carried-state-b882b63.json").read_text())
    state = RolloutState.model_validate(written["state"])
    assert state_digest(state) == written["digest"]


def test_the_same_state_built_today_has_the_old_digest() -> None:
    written = json.loads((FIXTURES / "carried-state-b882b63.json").read_text())
    assert state_digest(build()) == written["digest"], "a new field appears in the JSON at its default"


def test_a_state_with_custom_metrics_survives_its_own_carry() -> None:
    """The custom metrics' carried parts (tests, tallies, verdicts, the digest) read back to the same digest."""
    state = build()
    reading = Counters(requests=10, errors=0, custom={"critical_errors": CustomValue(value=1.0)})
    judge_state = new_judge_state(reading, reading, method="sequential").model_copy(
        update={"custom": {"refusals": CustomTestState()}}
    )
    state.judge_state = judge_state
    state.custom_counts = CustomCounts(last={"critical_errors": 1.0}, totals={"critical_errors": 0.0})
    state.record.custom_metrics_sha256 = "0" * 64
    state.record.analyses.append(
        AnalysisEntry(
            at=state.record.started_at,
            step=0,
            weight=10,
            decision="continue",
            reason="",
            custom=[CustomVerdict(metric="critical_errors", kind="count", verdict="pass", limit=0)],
        )
    )
    carried = RolloutState.model_validate_json(state.model_dump_json())
    assert state_digest(carried) == state_digest(state)
    assert carried.custom_counts == state.custom_counts and carried.record.analyses[-1].custom
