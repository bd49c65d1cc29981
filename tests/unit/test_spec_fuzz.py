"""validate_spec under generated input: every spec validates or fails with a bounded, well-formed SpecError, fast.

The inputs come from ``tests/spec_strategies.py``: valid variants of a base spec, mutations of them (wrong types,
huge strings and durations, non-ASCII digits, missing and unknown fields, deep nesting, bytes...) and inputs that
are no spec object at all. Derandomized, so CI runs the same 1,000 inputs every time.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

from hypothesis import HealthCheck, given, settings

from models.limits import MAX_PROBLEM_CHARS, MAX_PROBLEMS, MAX_SPEC_ERROR_CHARS
from models.spec import RolloutSpec
from models.validation import SpecError, path_segment, too_deep, validate_spec
from tests.spec_strategies import VALID_BASE, specs, valid_specs

EXAMPLES = 1_000

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


def _heads(data: object) -> set[str]:
    """What a problem may start with: ``(spec)``, a field of the spec, or a top-level key the input has."""
    heads = {"(spec)", *RolloutSpec.model_fields}
    if isinstance(data, str | bytes):
        text = data
        try:
            data = json.loads(text)
        except ValueError:
            return heads
        except RecursionError:  # too deep for json: the raw-text scanner names the top-level key it was under
            named = too_deep(text)
            return heads | ({re.split(r"[.\[:]", named, maxsplit=1)[0]} if named else set())
    if isinstance(data, Mapping):
        heads |= {path_segment(key) for key in data if isinstance(key, str)}
    return heads


def _starts_with_a_path(problem: str, heads: set[str]) -> bool:
    return any(problem.startswith(head) and problem[len(head) : len(head) + 1] in {".", "[", ":"} for head in heads)


def check(data: object) -> RolloutSpec | SpecError:
    """Validate once: a spec, or a SpecError whose problems and message are well-formed and bounded."""
    try:
        outcome: RolloutSpec | SpecError = validate_spec(data)
    except SpecError as exc:
        outcome = exc
    if isinstance(outcome, SpecError):
        message = str(outcome)
        assert message.startswith("invalid rollout spec (")
        assert len(message) <= MAX_SPEC_ERROR_CHARS, len(message)
        assert 1 <= len(outcome.problems) <= MAX_PROBLEMS
        assert outcome.total == len(outcome.problems) + outcome.omitted
        heads = _heads(data)
        for problem in outcome.problems:
            assert len(problem) <= MAX_PROBLEM_CHARS
            assert "\n" not in problem
            assert _starts_with_a_path(problem, heads), problem
    return outcome


def test_generated_specs_validate_or_fail_with_bounded_problems() -> None:
    outcomes: list[bool] = []
    started = time.perf_counter()

    @FUZZ
    @given(specs())
    def one(data: Any) -> None:
        outcomes.append(isinstance(check(data), RolloutSpec))

    one()
    elapsed = time.perf_counter() - started
    assert len(outcomes) >= EXAMPLES, len(outcomes)
    valid = sum(outcomes)
    # Both kinds are exercised in earnest: some valid, most invalid.
    assert 50 <= valid <= len(outcomes) - 500, (valid, len(outcomes))
    print(f"{len(outcomes)} specs ({valid} valid) in {elapsed:.1f}s")  # shown with -s: the fuzz test's cost


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(valid_specs())
def test_valid_variants_validate(data: dict[str, Any]) -> None:
    spec = check(data)
    assert isinstance(spec, RolloutSpec), spec
    assert validate_spec(spec.model_dump(mode="json")) == spec


def test_valid_base_validates() -> None:
    assert isinstance(check(VALID_BASE), RolloutSpec)
