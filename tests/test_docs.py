"""Docs that are generated or quoted must match the code."""

from __future__ import annotations

import json
from pathlib import Path

from models.schema import spec_schema
from models.validation import validate_spec

ROOT = Path(__file__).resolve().parent.parent


def test_committed_json_schema_is_current() -> None:
    committed = json.loads((ROOT / "docs" / "rollout-spec.schema.json").read_text())
    assert committed == spec_schema(), "regenerate: python -m models.schema > docs/rollout-spec.schema.json"


def test_every_example_spec_validates() -> None:
    examples = sorted((ROOT / "docs" / "examples").glob("*.json"))
    assert examples
    for path in examples:
        validate_spec(json.loads(path.read_text()))
