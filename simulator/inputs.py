"""Input features the stand-ins count per version: prompt length bucket, language, tool use.

A canary judged on users unlike stable's proves nothing about stable's users (docs/rollouts.md, "Drift on canary
inputs"). So the model servers count what they were *sent*, per feature and value, and export it beside their
other counters; the ``input_drift`` criterion compares the two versions' histograms.

Two populations: ``BASE`` (everyone) and ``SHIFTED`` (longer prompts, mostly Japanese; tool use unchanged, so a
test can check that only the features that moved are reported). The synthetic traffic draws a version's requests
from a mix of the two (the ``input_shift`` knob: the share from ``SHIFTED``); the real model server classifies
each request body it receives (``features_of``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

FEATURES: dict[str, tuple[str, ...]] = {
    "prompt_length": ("short", "medium", "long"),
    "language": ("en", "es", "de", "ja", "other"),
    "tool_use": ("no", "yes"),
}
"""Each feature's values, in a fixed order (the histogram's bins)."""

BASE: dict[str, tuple[float, ...]] = {
    "prompt_length": (0.55, 0.35, 0.10),
    "language": (0.70, 0.12, 0.10, 0.05, 0.03),
    "tool_use": (0.80, 0.20),
}
SHIFTED: dict[str, tuple[float, ...]] = {
    "prompt_length": (0.15, 0.35, 0.50),
    "language": (0.20, 0.05, 0.05, 0.65, 0.05),
    "tool_use": (0.80, 0.20),
}

SHORT_MAX_CHARS = 200
MEDIUM_MAX_CHARS = 1_000


def mix(shift: float) -> dict[str, tuple[float, ...]]:
    """Per feature, the value probabilities of a population with ``shift`` of it drawn from ``SHIFTED``."""
    return {
        feature: tuple((1 - shift) * b + shift * s for b, s in zip(BASE[feature], SHIFTED[feature], strict=True))
        for feature in FEATURES
    }


def features_of(body: Mapping[str, Any]) -> dict[str, str]:
    """One request's features, from its JSON body (``prompt``, optional ``language`` and ``tools``)."""
    prompt = body.get("prompt")
    length = len(prompt) if isinstance(prompt, str) else 0
    bucket = "short" if length <= SHORT_MAX_CHARS else "medium" if length <= MEDIUM_MAX_CHARS else "long"
    language = body.get("language")
    known = language if isinstance(language, str) and language in FEATURES["language"] else "other"
    return {
        "prompt_length": bucket,
        "language": "en" if language is None else known,
        "tool_use": "yes" if body.get("tools") else "no",
    }


def sample_body(rng: random.Random, shift: float, index: int) -> dict[str, Any]:
    """A request body drawn from the population with ``shift`` (for load generators that feed a real server)."""
    probs = mix(shift)
    drawn = {f: rng.choices(FEATURES[f], weights=probs[f])[0] for f in FEATURES}
    size = {"short": 60, "medium": 500, "long": 1_500}[drawn["prompt_length"]]
    body: dict[str, Any] = {"prompt": f"q{index} " + "x" * size, "language": drawn["language"]}
    if drawn["tool_use"] == "yes":
        body["tools"] = [{"name": "search"}]
    return body
