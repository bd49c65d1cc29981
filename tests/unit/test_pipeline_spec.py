"""The pipeline spec's refusals (each naming its field), stage composition, and who may promote (pure)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from models.pipeline import PipelineError, stage_spec, validate_pipeline
from models.policy import resolve
from tests.signing import make_person
from workflows.pipeline.decisions import PROMOTE_DECISION, Counted, judge
from workflows.signatures import Binding, Refused, decision_message

EXAMPLE = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "examples" / "support-assistant.pipeline.json").read_text()
)


def refused(document: Any) -> str:
    with pytest.raises(PipelineError) as error:
        validate_pipeline(document)
    return "\n".join(error.value.problems)


def changed(**stage1: Any) -> dict[str, Any]:
    document: dict[str, Any] = copy.deepcopy(EXAMPLE)
    document["stages"][1].update(stage1)
    return document


def test_the_example_validates_and_each_stage_gets_the_pipelines_versions() -> None:
    spec = validate_pipeline(EXAMPLE)
    rollout = stage_spec(spec, 1, EXAMPLE)
    assert rollout["pipeline_stage"] == {"stage": spec.stages[1].name, "pipeline": EXAMPLE}
    assert rollout["target"] == "production" and rollout["candidate"]["version"] == "v2"
    assert rollout["service"] == "support-assistant" and rollout["steps"][0]["weight"] == 1


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ("not an object", "(spec)"),
        ({**EXAMPLE, "stages": []}, "stages"),
        ({**EXAMPLE, "stages": EXAMPLE["stages"] * 4}, "stages"),
        (changed(name="staging"), "stages[1].name"),
        (changed(rollout={"steps": [{"weight": 150, "observe": "1h"}]}), "stages[1].rollout.steps"),
        (changed(rollout={"service": "other"}), "stages[1].rollout.service"),
        (changed(promotion="sometimes"), "stages.1.promotion"),
        ({**EXAMPLE, "stages": [{**EXAMPLE["stages"][0], "promotion": "signed"}]}, "stages[0].promotion"),
        ({**EXAMPLE, "surprise": 1}, "surprise"),
    ],
)
def test_a_bad_pipeline_is_refused_naming_the_field(document: Any, field: str) -> None:
    assert field in refused(document)


def test_an_oversized_spec_is_refused_before_parsing() -> None:
    assert "bytes" in refused({**EXAMPLE, "description": "x" * 300_000})


def binding() -> Binding:
    return Binding(workflow_id="pipeline-s", run_id="r1", decision=PROMOTE_DECISION, step=2, criteria_sha256="d")


def test_promotion_needs_a_signature_from_a_listed_key(tmp_path: Path) -> None:
    lead = make_person(tmp_path, "ml-lead")
    document = {"allowed_signers": [lead.allowed()], "default": {"approvers": ["ml-lead"]}}
    policy = resolve(json.dumps(document).encode(), source="p", service="s")
    now = datetime(2026, 12, 1, tzinfo=UTC)
    expires = (now + timedelta(hours=1)).isoformat()
    common: dict[str, Any] = {
        "decision": PROMOTE_DECISION,
        "text": None,
        "policy": policy,
        "requested_by": "ml-engineer",
        "binding": binding(),
        "now": now,
    }
    message = decision_message(binding(), principal="ml-lead", text=None, expires=expires)
    good = judge(principal="ml-lead", expires=expires, signature=lead.sign(message), **common)
    assert isinstance(good, Counted) and good.verified
    unsigned = judge(principal="ml-lead", expires=None, signature=None, **common)
    assert isinstance(unsigned, Refused) and unsigned.reason.startswith("signature: missing")
    other = judge(principal="mallory", expires=expires, signature=lead.sign(message), **common)
    assert isinstance(other, Refused) and other.reason.startswith("unauthorized")
    replayed = judge(
        principal="ml-lead",
        expires=expires,
        signature=lead.sign(message),
        **{**common, "binding": Binding("pipeline-s", "r1", PROMOTE_DECISION, 1, "d")},
    )
    assert isinstance(replayed, Refused), "a signature for stage 2 does not promote stage 1"
