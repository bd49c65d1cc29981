"""How two versions' answers to the same request are compared in shadow mode (pure, no I/O)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from models.spec import (
    Comparator,
    ExactCompare,
    JsonFieldsCompare,
    NumericToleranceCompare,
    TextSimilarityCompare,
)

_TOKEN = re.compile(r"\w+")


def _field(document: Any, name: str) -> Any:
    return document.get(name) if isinstance(document, dict) else None


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def text_similarity(a: str, b: str) -> float:
    """Jaccard similarity of lower-cased word sets: cheap, symmetric, 1.0 for equal texts."""
    left, right = set(_TOKEN.findall(a.lower())), set(_TOKEN.findall(b.lower()))
    if not left and not right:
        return 1.0
    return len(left & right) / len(left | right)


def agrees(compare: Comparator, stable: Any, candidate: Any) -> bool:
    """True when the candidate's answer agrees with stable's under ``compare``."""
    match compare:
        case ExactCompare():
            return json.dumps(stable, sort_keys=True) == json.dumps(candidate, sort_keys=True)
        case JsonFieldsCompare(fields=fields):
            # Answers that are not objects have no fields to agree on: they never agree.
            if not isinstance(stable, dict) or not isinstance(candidate, dict):
                return False
            return all(_field(stable, f) == _field(candidate, f) for f in fields)
        case NumericToleranceCompare(fields=fields, tolerance=tolerance):
            for name in fields:
                a, b = _field(stable, name), _field(candidate, name)
                if not _finite(a) or not _finite(b) or abs(a - b) > tolerance:
                    return False
            return True
        case TextSimilarityCompare(field=name, min_similarity=minimum):
            a, b = _field(stable, name), _field(candidate, name)
            return isinstance(a, str) and isinstance(b, str) and text_similarity(a, b) >= minimum
    raise TypeError(f"unknown comparator {compare!r}")
