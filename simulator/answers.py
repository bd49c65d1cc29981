"""The deterministic "model": an answer is a pure function of the request body.

Shadow comparison replays the same request against stable and candidate and compares answers, so both must
agree by construction except where the candidate is told to disagree. Disagreement is selected by a hash of the
request, not by a random draw, so a replay of the same request gives the same verdict, and raising the
``disagreement`` knob only adds disagreeing requests (the selected set grows monotonically).
"""

from __future__ import annotations

import hashlib
import json
from statistics import NormalDist
from typing import Any

_UNIT = NormalDist()


def canonical_json(body: Any) -> str:
    """Key-order- and whitespace-independent JSON, so equal requests hash equally."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(parts).encode()).digest()


def _unit_interval(*parts: str) -> float:
    """A deterministic number in [0, 1) derived from ``parts``."""
    return int.from_bytes(_digest(*parts)[:8], "big") / 2.0**64


def baseline_answer(body: Any) -> str:
    """Stable's answer to a request."""
    return "answer-" + _digest("answer", canonical_json(body)).hex()[:16]


def disagrees(body: Any, disagreement: float) -> bool:
    """Whether a version with this ``disagreement`` share answers this request differently from stable."""
    return disagreement > 0 and _unit_interval("disagree", canonical_json(body)) < disagreement


def answer(body: Any, *, version: str, disagreement: float) -> str:
    """The answer of ``version``: stable's unless the request falls in the disagreeing share."""
    if disagrees(body, disagreement):
        return "answer-" + _digest("alternative", version, canonical_json(body)).hex()[:16]
    return baseline_answer(body)


def quality(body: Any, *, version: str, mean: float, sd: float) -> float:
    """A per-response quality score in [0, 1], deterministic per (version, request) like a fixed grader."""
    u = _unit_interval("quality", version, canonical_json(body))
    u = min(max(u, 1e-12), 1 - 1e-12)
    return min(1.0, max(0.0, mean + sd * _UNIT.inv_cdf(u)))
