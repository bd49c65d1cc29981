"""The demo's keys and policy: ``make run`` starts the demo rollout under them."""

from __future__ import annotations

import json
from pathlib import Path

from models.policy import resolve
from models.validation import validate_spec
from workers.cli.demo import SERVICE, main
from workers.cli.signing import ssh_sign
from workflows.policy import conflicts, verify_spec_signature
from workflows.signatures import canonical_spec

DEMO = Path(__file__).resolve().parents[2] / "docs" / "examples" / "demo-rollout.json"


def test_demo_spec_signed_by_its_requester_fits_the_demo_policy(tmp_path: Path) -> None:
    assert main([str(tmp_path / "keys"), str(tmp_path / "policy.json")]) == 0
    policy = resolve((tmp_path / "policy.json").read_bytes(), source="policy.json", service=SERVICE)
    assert policy is not None and not policy.policy.allow_unsigned
    raw = json.loads(DEMO.read_text())
    raw["signature"] = ssh_sign(canonical_spec(raw), tmp_path / "keys" / raw["requested_by"])
    spec = validate_spec(raw)
    assert conflicts(spec, policy) == []
    assert isinstance(verify_spec_signature(raw, spec, policy), str)
