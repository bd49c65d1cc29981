"""The ``rollouts`` command shows what a person signs, and signs only once they say so (or pass ``--yes``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from models.phases import Phase
from models.record import DeploymentRecord
from models.spec import VersionRef
from workers.cli.decisions import NotConfirmed, confirm, summary
from workflows.rollout.state import LastAnalysis, RolloutStatus

# Only the fields the summary reads: the rest of a record or a status is not what a person signs.
RECORD_FIELDS: dict[str, Any] = {
    "rollout_id": "rollout-support-assistant",
    "run_id": "run-1",
    "service": "support-assistant",
    "stable": VersionRef(version="v1"),
    "candidate": VersionRef(version="v2"),
}
RECORD = DeploymentRecord.model_construct(**RECORD_FIELDS)


def status(*, last: LastAnalysis | None = None) -> RolloutStatus:
    fields: dict[str, Any] = {
        "service": "support-assistant",
        "phase": Phase.AWAITING_APPROVAL,
        "step": 2,
        "steps": 3,
        "weight": 25.0,
        "step_evidence": "pass",
        "last_analysis": last,
    }
    return RolloutStatus.model_construct(**fields)


def test_summary_names_everything_that_is_signed() -> None:
    last = LastAnalysis.model_construct(
        at=datetime(2026, 1, 1, tzinfo=UTC), decision="pass", reason="every criterion passes", evidence=[], criteria={}
    )
    text = summary(
        "approve", RECORD, status(last=last), who="carol", text="dashboards fine", expires="2026-01-01T12:15:00Z"
    )
    assert text.splitlines() == [
        "You are about to sign this approval as carol:",
        "  rollout:   rollout-support-assistant (run run-1)",
        "  service:   support-assistant",
        "  versions:  v1 -> v2 (stable -> candidate)",
        "  step:      2 of 3, candidate weight 25% (phase awaiting_approval)",
        "  evidence:  pass; last analysis: pass: every criterion passes",
        '  decision:  approve "dashboards fine"',
        "  expires:   2026-01-01T12:15:00Z",
    ]


def test_summary_before_any_analysis_says_so() -> None:
    text = summary("reject", RECORD, status(), who="erin", text=None, expires="2026-01-01T12:15:00Z")
    assert "this rejection as erin" in text and "last analysis: no analysis yet" in text and 'reject ""' in text


def never_asked(question: str) -> str:
    raise AssertionError(f"asked {question!r}")


def test_yes_signs_without_asking() -> None:
    confirm("approve", yes=True, interactive=False, ask=never_asked)
    confirm("approve", yes=True, interactive=True, ask=never_asked)


def test_without_a_terminal_and_without_yes_nothing_is_signed() -> None:
    with pytest.raises(NotConfirmed, match="not a terminal, so nobody can confirm: pass --yes to sign this approval"):
        confirm("approve", yes=False, interactive=False, ask=never_asked)


@pytest.mark.parametrize(
    ("answer", "signs"), [("y\n", True), ("YES\n", True), ("\n", False), ("n\n", False), ("", False)]
)
def test_at_a_terminal_only_yes_signs(answer: str, signs: bool) -> None:
    asked: list[str] = []

    def ask(question: str) -> str:
        asked.append(question)
        return answer

    if signs:
        confirm("approve", yes=False, interactive=True, ask=ask)
    else:
        with pytest.raises(NotConfirmed, match="not signed"):
            confirm("approve", yes=False, interactive=True, ask=ask)
    assert asked == ["Sign this approval? [y/N] "]
