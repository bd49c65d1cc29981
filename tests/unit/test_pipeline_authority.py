"""A pipeline signs once for its stages: what the pipeline and each stage's child check (pure, real SSH keys)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from models.pipeline import override_digest, pipeline_id, stage_spec, validate_pipeline
from models.policy import GoverningPolicy, resolve
from models.validation import validate_spec
from tests.signing import Person, make_person
from workers.cli.__main__ import main as rollouts_main
from workers.cli.signing import expiry
from workflows.pipeline.authority import stage_authority, verify_pipeline_spec
from workflows.pipeline.decisions import OVERRIDE_DECISION, Counted, judge
from workflows.signatures import Binding, Refused, canonical_spec

EXAMPLE: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "examples" / "support-assistant.pipeline.json").read_text()
)
PARENT = pipeline_id("support-assistant")
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> tuple[Person, Person]:
    directory = tmp_path_factory.mktemp("keys")
    return make_person(directory, "ml-engineer"), make_person(directory, "mallory")


def policy(people: tuple[Person, Person], **service: Any) -> GoverningPolicy:
    document = {
        "allowed_signers": [p.allowed() for p in people],
        "services": {"support-assistant": {"approvers": ["ml-lead", "sre-oncall"], **service}},
    }
    found = resolve(json.dumps(document).encode(), source="p.json", service="support-assistant")
    assert found is not None
    return found


def signed(person: Person, document: dict[str, Any] | None = None) -> dict[str, Any]:
    bound = {**(document or EXAMPLE), "workflow_id": PARENT, "not_after": expiry(timedelta(hours=1))}
    return {**bound, "signature": person.sign(canonical_spec(bound))}


def stage(raw: dict[str, Any], index: int = 1) -> dict[str, Any]:
    return stage_spec(validate_pipeline(raw), index, raw)


def authority(child: dict[str, Any], governing: GoverningPolicy, **where: Any) -> str | Refused | None:
    place = {"workflow_id": f"{PARENT}--canary", "parent_workflow_id": PARENT, **where}
    return stage_authority(child, validate_spec(child), governing, **place)


def test_the_pipeline_verifies_its_requesters_signature(people: tuple[Person, Person]) -> None:
    requester, mallory = people
    governing = policy(people)
    raw = signed(requester)
    assert isinstance(verify_pipeline_spec(raw, validate_pipeline(raw), governing, workflow_id=PARENT, now=NOW), str)
    unsigned = verify_pipeline_spec(EXAMPLE, validate_pipeline(EXAMPLE), governing, workflow_id=PARENT, now=NOW)
    assert isinstance(unsigned, Refused) and "must be signed by 'ml-engineer'" in unsigned.reason
    forged = signed(mallory)
    verdict = verify_pipeline_spec(forged, validate_pipeline(forged), governing, workflow_id=PARENT, now=NOW)
    assert isinstance(verdict, Refused) and "listed for mallory" in verdict.reason
    other = verify_pipeline_spec(raw, validate_pipeline(raw), governing, workflow_id="pipeline-x", now=NOW)
    assert isinstance(other, Refused) and "workflow_id" in other.reason
    late = verify_pipeline_spec(
        raw, validate_pipeline(raw), governing, workflow_id=PARENT, now=NOW + timedelta(hours=2)
    )
    assert isinstance(late, Refused) and "not_after" in late.reason


def test_a_stage_counts_as_signed_by_the_pipelines_requester(people: tuple[Person, Person]) -> None:
    requester, _ = people
    governing = policy(people)
    verdict = authority(stage(signed(requester)), governing)
    assert isinstance(verdict, str) and verdict.startswith("SHA256:")


def test_a_stage_is_refused_outside_its_pipeline(people: tuple[Person, Person]) -> None:
    requester, mallory = people
    governing = policy(people)
    child = stage(signed(requester))
    started_by_a_client = authority(child, governing, parent_workflow_id=None)
    assert isinstance(started_by_a_client, Refused) and "only as a child" in started_by_a_client.reason
    other_parent = authority(child, governing, parent_workflow_id="pipeline-other")
    assert isinstance(other_parent, Refused) and "not the pipeline" in other_parent.reason
    wrong_id = authority(child, governing, workflow_id=f"{PARENT}--staging")
    assert isinstance(wrong_id, Refused) and "runs as" in wrong_id.reason

    # A stage changed after the signature (a bigger step, say) no longer matches what the signature covers.
    tampered = json.loads(json.dumps(child))  # as the server hands it over: no shared lists
    tampered["steps"][0]["weight"] = 2
    changed = authority(tampered, governing)
    assert isinstance(changed, Refused) and "not the stage" in changed.reason

    # The signed pipeline inside the stage, edited and re-composed: the signature no longer verifies.
    edited = copy.deepcopy(signed(requester))
    edited["stages"][1]["rollout"]["steps"] = [{"weight": 90, "observe": "1h"}]
    assert isinstance(authority(stage(edited), governing), Refused)
    # Signed by someone else than the requester: refused as for a rollout spec.
    assert isinstance(authority(stage(signed(mallory)), governing), Refused)
    # Unsigned under a strict policy: refused; under a lab policy: counted, unverified.
    unsigned = authority(stage(EXAMPLE), governing)
    assert isinstance(unsigned, Refused) and "must be signed" in unsigned.reason
    assert authority(stage(EXAMPLE), policy(people, allow_unsigned=True)) is None


def test_an_override_signed_with_the_cli_verifies_after_the_requester_signs_the_spec(
    people: tuple[Person, Person], tmp_path: Path
) -> None:
    """``rollouts pipeline override`` then ``start --key``: the workflow's check of the override still holds."""
    requester, _ = people
    manager = make_person(tmp_path, "ml-lead")
    governing = policy((requester, manager))
    path = tmp_path / "pipeline.json"
    path.write_text(json.dumps(EXAMPLE))
    argv = ["pipeline", "override", str(path), "--key", str(manager.key), "--reason", "the regression is fixed"]
    assert rollouts_main(argv) == 0
    started = signed(requester, json.loads(path.read_text()))  # what `start --key` sends
    spec = validate_pipeline(started)
    assert spec.override is not None and spec.override.by == "ml-lead"
    binding = Binding(
        workflow_id=PARENT, run_id="-", decision=OVERRIDE_DECISION, step=None, criteria_sha256=override_digest(started)
    )
    common: dict[str, Any] = {
        "decision": OVERRIDE_DECISION,
        "principal": spec.override.by,
        "expires": spec.override.expires,
        "signature": spec.override.signature,
        "policy": governing,
        "requested_by": spec.requested_by,
        "binding": binding,
        "now": NOW,
    }
    verdict = judge(text=spec.override.reason, **common)
    assert isinstance(verdict, Counted) and verdict.verified
    assert isinstance(judge(text="another reason", **common), Refused)
    assert isinstance(verify_pipeline_spec(started, spec, governing, workflow_id=PARENT, now=NOW), str)
