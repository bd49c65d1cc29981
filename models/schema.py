"""``python -m models.schema``: the JSON Schema of the rollout spec, generated from the pydantic models."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from models.spec import RolloutSpec


def document_schema(model: type[BaseModel], title: str) -> dict[str, Any]:
    """The JSON Schema of a file people write (a spec, a policy), generated from its model so it cannot drift."""
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = title
    return schema


def spec_schema() -> dict[str, Any]:
    """The JSON Schema users read (and editors validate against)."""
    return document_schema(RolloutSpec, "Rollout spec (durable-rollouts)")


if __name__ == "__main__":
    print(json.dumps(spec_schema(), indent=2, sort_keys=True))
