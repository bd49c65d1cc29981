"""The eval gate's models: the operators' suites and graders, what a spec may ask, the activity's input and result.

An eval suite is the operators' (a JSONL file on the worker's disk, named in a target's ``eval_suites``, with its
grader and the locked baseline score); a spec only names it (``eval.suite``), as it names a replay set. A case is
one line: ``{"id", "category", "input", "expected"}``; ``input`` is POSTed to each version's endpoint and the answer
graded against ``expected`` by a comparator, a regular expression or the operators' grader endpoint.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.spec import Comparator, EvalSpec, FilePath, Name, Url

__all__ = ["EvalSpec"]

MAX_EVAL_CASES = 2000
"""Cases per suite: the seeds' staging suite has 150; a heartbeat carries one verdict pair per case."""
MAX_FAILING_KEPT = 20
"""Failing cases kept in the record: enough to see the pattern, bounded for the record's size."""
MAX_CATEGORIES = 50
MAX_CASE_BYTES = 64 * 1024
MAX_PATTERN_CHARS = 500


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class CompareGrader(_Model):
    """The answer must agree with ``expected`` under one of the shadow comparators."""

    kind: Literal["compare"] = Field(description="Grader kind.")
    compare: Comparator = Field(description="How an answer is compared with the case's expected answer.")


class RegexGrader(_Model):
    """``expected`` is a regular expression that a text field of the answer must contain a match of."""

    kind: Literal["regex"] = Field(description="Grader kind.")
    field: Name = Field(default="answer", description="The answer's text field the pattern is searched in.")


class EndpointGrader(_Model):
    """The operators' grader: POST ``{"case", "answer"}``, it answers ``{"pass": true|false}``."""

    kind: Literal["endpoint"] = Field(description="Grader kind.")
    url: Url = Field(description="The grader's URL (the operators', never a spec's).")


Grader = Annotated[CompareGrader | RegexGrader | EndpointGrader, Field(discriminator="kind")]


class EvalSuite(_Model):
    """One of a target's eval suites: the file, how it is graded, and the baseline the candidate must hold."""

    file: FilePath = Field(description="JSONL cases on the worker's disk: id, category, input, expected.")
    grader: Grader = Field(description="How each answer is graded.")
    baseline: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="The locked baseline score (share of cases passed) the candidate is held to; null: stable's "
        "score on the same run.",
    )
    tolerance: float = Field(default=0.0, ge=0, le=1, description="The candidate may score this much below it.")
    category_tolerance: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Each category's candidate score may be this much below stable's in it; null: categories are "
        "reported, not gated.",
    )


class EvalInput(BaseModel):
    """Input of ``run_eval``: the suite as the policy defines it, and both versions' endpoints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    suite_name: str
    suite: EvalSuite
    stable_endpoint: str
    candidate_endpoint: str
    concurrency: int = 8
    request_timeout_seconds: float = 30.0


class CaseVerdict(BaseModel):
    """One case graded for both versions; heartbeats carry these so a restarted attempt skips them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    category: str
    candidate: bool
    stable: bool
    candidate_error: str | None = None
    stable_error: str | None = None


class ArmScore(BaseModel):
    """One version's score: the share of cases passed, overall and per category."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    score: float
    passed: int
    errors: int
    categories: dict[str, float] = Field(default_factory=dict)


class FailingCase(BaseModel):
    """A case the candidate failed, for the record (bounded)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    category: str
    stable_passed: bool
    error: str | None = None


class EvalResult(BaseModel):
    """What ``run_eval`` measured; the workflow's gate decides (``workflows/eval_gate.py``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    suite: str
    sha256: str = Field(description="SHA-256 of the suite file's bytes, as read.")
    cases: int
    candidate: ArmScore
    stable: ArmScore
    failing: list[FailingCase] = Field(default_factory=list, description=f"At most {MAX_FAILING_KEPT}.")
    failing_total: int = 0
    resumed: int = Field(default=0, description="Cases taken from the last heartbeat, not run again.")


def heartbeat_details(sha256: str, verdicts: list[CaseVerdict]) -> dict[str, Any]:
    """What the activity heartbeats: the suite's digest (a changed file starts over) and every verdict so far."""
    done = len(verdicts)
    passed = sum(v.candidate for v in verdicts)
    return {
        "sha256": sha256,
        "done": done,
        "candidate_score_so_far": passed / done if done else None,
        "verdicts": [v.model_dump() for v in verdicts],
    }
