"""``python -m models.schema``: the JSON Schema of the rollout spec, generated from the pydantic models."""

from __future__ import annotations

import json
from typing import Any

from models.spec import RolloutSpec


def spec_schema() -> dict[str, Any]:
    """The JSON Schema users read (and editors validate against), generated so it cannot drift."""
    schema = RolloutSpec.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Rollout spec (durable-rollouts)"
    return schema


if __name__ == "__main__":
    print(json.dumps(spec_schema(), indent=2, sort_keys=True))
