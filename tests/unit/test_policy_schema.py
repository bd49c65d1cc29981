"""The committed policy schema and example are current: what operators read is what the worker enforces."""

from __future__ import annotations

import json
from pathlib import Path

from models.policy import policy_schema, resolve

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_committed_policy_schema_is_current() -> None:
    committed = json.loads((DOCS / "policy.schema.json").read_text())
    assert committed == policy_schema(), "regenerate: python -m models.policy > docs/policy.schema.json"


def test_example_policy_resolves() -> None:
    raw = (DOCS / "examples" / "policies" / "support-assistant.json").read_bytes()
    found = resolve(raw, source="docs/examples/policies/support-assistant.json", service="support-assistant")
    assert found is not None and found.scope == "services.support-assistant"
    assert found.policy.approvers and found.signers
