"""models.record: the deployment record rendered as Markdown, and the compact evidence lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from models.criteria import Criteria, RollbackTriggers
from models.record import (
    AnalysisEntry,
    ApprovalEntry,
    CriterionEvidence,
    DeploymentRecord,
    GateReport,
    RollbackReport,
    SignalRejection,
    StepReport,
    TimelineEntry,
    evidence_line,
    format_duration_seconds,
    render_markdown,
    strategy_of,
)
from models.spec import VersionRef
from models.validation import validate_spec

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "support-assistant-v2.json"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def base_record(**overrides: object) -> DeploymentRecord:
    fields: dict[str, object] = {
        "rollout_id": "rollout-support-assistant-v2",
        "run_id": "run-123",
        "service": "support-assistant",
        "requested_by": "ml-engineer",
        "description": "v2: gpt-4o-mini with prompt v3",
        "stable": VersionRef(version="v1"),
        "candidate": VersionRef(version="v2", manifest={"model": "gpt-4o-mini-2024-07-18", "prompt_sha": "a4f2c1"}),
        "strategy": {},
        "criteria": Criteria(),
        "rollback_triggers": RollbackTriggers(),
        "criteria_sha256": "ab" * 32,
        "judge": "sequential",
        "started_at": T0,
    }
    fields.update(overrides)
    return DeploymentRecord.model_validate(fields)


def promoted_record() -> DeploymentRecord:
    approval = ApprovalEntry(step=1, approver="ml-lead", at=at(130), comment="numbers look fine")
    final = [
        CriterionEvidence(name="error_rate", verdict="pass", observed=0.95, limit=1.2, samples=(9000, 600)),
        CriterionEvidence(name="latency_p95", verdict="pass", observed=1.02, limit=1.1, samples=(9000, 600)),
    ]
    return base_record(
        finished_at=at(200),
        outcome="promoted",
        final_weight=100.0,
        gates=[GateReport(name="shadow", passed=True, summary="58/60 answers agree (96.7%, need 90%)")],
        steps=[
            StepReport(index=0, weight=1, observe_seconds=1800, started_at=at(0), observed_seconds=1800, analyses=6),
            StepReport(
                index=1,
                weight=50,
                observe_seconds=5400,
                started_at=at(30),
                observed_seconds=5400.4,
                analyses=18,
                candidate_requests=600,
                final=final,
                approvals=[approval],
            ),
        ],
        approvals=[approval, ApprovalEntry(step=1, approver="sre-oncall", at=at(131))],
        rejected_signals=[
            SignalRejection(
                at=at(125), signal="approve", by="ml-engineer", reason="unauthorized: 'ml-engineer' requested this"
            ),
            SignalRejection(at=at(126), signal="pause", by=None, reason="malformed: by: missing", payload={}),
        ],
        timeline=[
            TimelineEntry(at=at(0), phase="canary", event="weight set", detail="stable 99% / candidate 1% (verified)"),
            TimelineEntry(at=at(200), phase="promoted", event="candidate serves 100%"),
        ],
    )


def test_promoted_record_contains_the_key_facts() -> None:
    md = render_markdown(promoted_record())
    assert md.startswith("# Deployment record: support-assistant v1 -> v2\n")
    assert md.endswith("\n")
    for fact in [
        "- **Outcome:** promoted (candidate at 100% at the end)",
        "- **Rollout:** `rollout-support-assistant-v2` run `run-123`, requested by ml-engineer",
        f"- **Started / finished:** {T0.isoformat()} / {at(200).isoformat()}",
        f"- **Criteria sha256:** `{'ab' * 32}` (judge: sequential)",
        "- **Why:** v2: gpt-4o-mini with prompt v3",
        "- `model`: `gpt-4o-mini-2024-07-18`",
        "- `prompt_sha`: `a4f2c1`",
        "- quality: candidate >= stable - 0.02",
        "- latency p95: candidate <= stable x 1.1",
        "- error rate: candidate <= stable x 1.2",
        "- minimum sample: 500 candidate requests per step; alpha 0.05",
        "- hard triggers: error rate > 2x, p95 > 1.5x",
        "- shadow: passed: 58/60 answers agree (96.7%, need 90%)",
        "| 1 | 1% | 30m | 6 | 0 | - | - | - |",
        "| 2 | 50% | 1h30m | 18 | 600 | pass (0.95 vs 1.2) | pass (1.02 vs 1.1) | - |",
        f"- step 2: ml-lead at {at(130).isoformat()}: numbers look fine",
        f"- step 2: sre-oncall at {at(131).isoformat()}",
        f"- {at(125).isoformat()} `approve` from ml-engineer: unauthorized: 'ml-engineer' requested this",
        f"- {at(126).isoformat()} `pause` from ?: malformed: by: missing",
        f"- {T0.isoformat()} [canary] weight set: stable 99% / candidate 1% (verified)",
        f"- {at(200).isoformat()} [promoted] candidate serves 100%",
    ]:
        assert fact in md.splitlines(), fact
    assert "## Rollback" not in md
    assert "## Signals that changed nothing" in md


def test_rolled_back_record_explains_the_rollback() -> None:
    record = base_record(
        outcome="rolled_back",
        finished_at=at(61),
        final_weight=0.0,
        gates=[GateReport(name="preflight", passed=False, summary="eval score 0.7 vs floor 0.8")],
        rollback=RollbackReport(
            cause="reject",
            by="ml-lead",
            reason="rejected by ml-lead: hallucinations",
            started_at=at(60),
            finished_at=at(60.5),
            duration_seconds=1.2345,
            router_verified=True,
            compensations=["router: stable to 100%"],
        ),
        rejected_signals=[
            SignalRejection(at=at(62), signal="abort", by="sre", reason="meaningless: already rolled_back")
        ],
    )
    md = render_markdown(record)
    lines = md.splitlines()
    assert "- **Outcome:** rolled_back (candidate at 0% at the end)" in lines
    assert "## Rollback" in lines
    assert "- **Cause:** reject by ml-lead" in lines
    assert "- **Reason:** rejected by ml-lead: hallucinations" in lines
    assert "- **Took:** 1.23 s; router verified at stable 100%: True" in lines
    assert "- preflight: FAILED: eval score 0.7 vs floor 0.8" in lines
    assert f"- {at(62).isoformat()} `abort` from sre: meaningless: already rolled_back" in lines


def test_rollback_before_any_traffic() -> None:
    record = base_record(
        outcome="rolled_back",
        rollback=RollbackReport(cause="shadow", by=None, reason="shadow gate failed", started_at=at(5)),
    )
    lines = render_markdown(record).splitlines()
    assert "- **Cause:** shadow" in lines
    assert "- **Took:** - s; no traffic had moved to the candidate" in lines


def test_running_record_without_optional_sections() -> None:
    record = base_record(description=None, candidate=VersionRef(version="v2"))
    md = render_markdown(record)
    lines = md.splitlines()
    assert "- **Outcome:** running (candidate at 0% at the end)" in lines
    assert f"- **Started / finished:** {T0.isoformat()} / -" in lines
    assert "- (none given)" in lines
    assert "**Why:**" not in md
    for section in ("## Rollback", "## Gates", "## Steps", "## Approvals", "## Signals that changed nothing"):
        assert section not in lines
    assert lines[-2:] == ["## Timeline", ""]


def test_record_survives_json_round_trip_with_infinite_evidence() -> None:
    record = promoted_record()
    record.analyses.append(
        AnalysisEntry(
            at=at(10),
            step=0,
            weight=1,
            decision="continue",
            reason="not enough data",
            criteria=[CriterionEvidence(name="latency_p95", verdict="inconclusive", upper=float("inf"), limit=1.1)],
        )
    )
    again = DeploymentRecord.model_validate_json(record.model_dump_json())
    assert again.analyses[0].criteria[0].upper == float("inf")
    assert render_markdown(again) == render_markdown(record)


# ---------------------------------------------------------------- evidence_line


@pytest.mark.parametrize(
    ("evidence", "line"),
    [
        (
            CriterionEvidence(
                name="error_rate",
                verdict="fail",
                observed=2.99,
                limit=1.2,
                lower=2.1,
                upper=4.0,
                e_value=412.0,
                samples=(497000, 5210),
            ),
            "error_rate fail: 2.99 vs 1.2 [2.1, 4] e=412 n=497000/5210",
        ),
        (
            CriterionEvidence(name="quality", verdict="inconclusive", limit=0.02),
            "quality inconclusive: - vs 0.02 n=0/0",
        ),
        (
            CriterionEvidence(name="latency_p95", verdict="pass", observed=1.023456, limit=1.1, upper=1.08),
            "latency_p95 pass: 1.023 vs 1.1 [-, 1.08] n=0/0",
        ),
        (
            CriterionEvidence(name="error_rate", verdict="pass", observed=0.5, limit=1.2, lower=0.1, samples=(10, 3)),
            "error_rate pass: 0.5 vs 1.2 [0.1, -] n=10/3",
        ),
        (
            CriterionEvidence(name="error_rate", verdict="fail", observed=3, limit=1.2, e_value=12345.6),
            "error_rate fail: 3 vs 1.2 e=1.23e+04 n=0/0",
        ),
    ],
)
def test_evidence_line(evidence: CriterionEvidence, line: str) -> None:
    assert evidence_line(evidence) == line


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (59.6, "1m"), (5400.4, "1h30m"), (86401, "1d1s")])
def test_format_duration_seconds_rounds_to_the_second(seconds: float, text: str) -> None:
    assert format_duration_seconds(seconds) == text


def test_strategy_of_the_example() -> None:
    spec = validate_spec(json.loads(EXAMPLE.read_text()))
    strategy = strategy_of(spec)
    assert strategy["total_observation"] == "2d"
    assert strategy["analysis_interval"] == "5m"
    assert strategy["steps"][0] == {"weight": 1.0, "observe": "4h", "approval": False}
    assert strategy["target"] == "production"
    assert strategy["router"] is None and strategy["metrics"] is None, "a named target's live in the policy"
    assert strategy["preflight"] is False
    assert strategy["approvals"]["quorum"] == 2
    assert strategy["shadow"]["compare"] == {"kind": "json-fields", "fields": ["answer"]}
    json.dumps(strategy)


def test_the_record_names_each_steps_segments_and_the_flag() -> None:
    internal = {"header": "X-User-Group", "in": ["internal"]}
    steps = [
        StepReport.model_validate(
            {"index": 0, "weight": 100, "observe_seconds": 60, "started_at": T0, "segments": [internal]}
        ),
        StepReport(index=1, weight=10, observe_seconds=60, started_at=at(2)),
    ]
    record = base_record(steps=steps, flag="support-assistant-candidate")
    text = render_markdown(record)
    assert "| 1 | 100% of X-User-Group in internal |" in text
    assert "| 2 | 10% |" in text
    assert "**Feature flag:** `support-assistant-candidate`" in text
    dumped = record.model_dump(mode="json")
    assert dumped["flag"] == "support-assistant-candidate"
    assert dumped["steps"][0]["segments"] == [internal] and "segments" not in dumped["steps"][1]
    plain = base_record(steps=steps[1:]).model_dump(mode="json")
    assert "flag" not in plain, "absent while unset: older records keep their JSON"
