"""The demo's keys and policy: ``make run`` starts the demo rollout under them, on the target they define."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from models.pipeline import pipeline_id, stage_spec, validate_pipeline
from models.policy import resolve
from models.targets import ChosenTarget
from models.validation import validate_spec
from simulator.eval_suite import suite_entry
from workers.cli.demo import SERVICE, main
from workers.cli.signing import ssh_sign
from workflows.pipeline.authority import stage_authority, verify_pipeline_spec
from workflows.policy import conflicts, verify_spec_signature
from workflows.signatures import canonical_spec
from workflows.targets import choose_target

DEMO = Path(__file__).resolve().parents[2] / "docs" / "examples" / "demo-rollout.json"


def demo_target() -> dict[str, object]:
    """A stand's target as ``simulator.demo`` writes it (ports as the demo's servers would have them)."""
    return {
        "router": {"kind": "http", "url": "http://127.0.0.1:9100/routes/{service}"},
        "metrics": {"kind": "http-json", "url": "http://127.0.0.1:9100/metrics/{service}"},
        "url_prefixes": ["http://127.0.0.1:9101", "http://127.0.0.1:9102"],
        "replay_sets": {"support-requests": "docs/examples/support-requests.jsonl"},
        "eval_suites": suite_entry("http://127.0.0.1:9101/grade"),
    }


def test_demo_spec_signed_by_its_requester_fits_the_demo_policy_and_target(tmp_path: Path) -> None:
    target_file = tmp_path / "target.json"
    target_file.write_text(json.dumps(demo_target()))
    assert main([str(tmp_path / "keys"), str(tmp_path / "policy.json"), str(target_file)]) == 0
    policy = resolve((tmp_path / "policy.json").read_bytes(), source="policy.json", service=SERVICE)
    assert policy is not None and not policy.policy.allow_unsigned
    raw = json.loads(DEMO.read_text())
    now = datetime.now(UTC)
    raw["workflow_id"] = "rollout-support-assistant"
    raw["not_after"] = (now + timedelta(minutes=30)).isoformat()
    raw["signature"] = ssh_sign(canonical_spec(raw), tmp_path / "keys" / raw["requested_by"])
    spec = validate_spec(raw)
    assert conflicts(spec, policy) == []
    assert isinstance(verify_spec_signature(raw, spec, policy, workflow_id="rollout-support-assistant", now=now), str)
    chosen = choose_target(spec, policy, lab_mode=False)
    assert isinstance(chosen, ChosenTarget) and chosen.name == "demo" and chosen.origin == "policy"
    assert chosen.target.router.kind == "http" and str(chosen.target.metrics.url).endswith("/support-assistant")


def test_the_demo_policy_requires_the_approval_before_promotion(tmp_path: Path) -> None:
    assert main([str(tmp_path / "keys"), str(tmp_path / "policy.json")]) == 0
    policy = resolve((tmp_path / "policy.json").read_bytes(), source="policy.json", service=SERVICE)
    assert policy is not None
    raw = json.loads(DEMO.read_text())
    raw["steps"][-1]["approval"] = False
    problems = conflicts(validate_spec(raw), policy)
    assert any(p.startswith("steps[1].approval: policy services.support-assistant") for p in problems), problems


def test_the_demo_pipeline_signed_by_its_requester_fits_the_demo_policy(tmp_path: Path) -> None:
    """``make run`` prints how to start docs/examples/demo.pipeline.json: each stage must fit the demo policy."""
    target_file = tmp_path / "target.json"
    target_file.write_text(json.dumps(demo_target()))
    assert main([str(tmp_path / "keys"), str(tmp_path / "policy.json"), str(target_file)]) == 0
    policy = resolve((tmp_path / "policy.json").read_bytes(), source="policy.json", service=SERVICE)
    assert policy is not None
    raw = json.loads((DEMO.parent / "demo.pipeline.json").read_text())
    now = datetime.now(UTC)
    raw["workflow_id"] = pipeline_id(SERVICE)
    raw["not_after"] = (now + timedelta(minutes=30)).isoformat()
    raw["signature"] = ssh_sign(canonical_spec(raw), tmp_path / "keys" / raw["requested_by"])
    pipeline = validate_pipeline(raw)
    assert isinstance(verify_pipeline_spec(raw, pipeline, policy, workflow_id=pipeline_id(SERVICE), now=now), str)
    for index, stage in enumerate(pipeline.stages):
        child = stage_spec(pipeline, index, raw)
        spec = validate_spec(child)
        assert conflicts(spec, policy) == [], stage.name
        chosen = choose_target(spec, policy, lab_mode=False)
        assert isinstance(chosen, ChosenTarget)
        if spec.eval is not None:  # the eval gate names a suite the operators' target defines
            assert spec.eval.suite in chosen.target.eval_suites
        where = {"workflow_id": f"{pipeline_id(SERVICE)}--{stage.name}", "parent_workflow_id": pipeline_id(SERVICE)}
        assert isinstance(stage_authority(child, spec, policy, **where), str)
    assert [stage.rollout.get("eval") is not None for stage in pipeline.stages] == [True, False], "staging's eval gate"
