"""The eval gate's verdict (pure): the candidate's score against the locked baseline, overall and per category.

The reference is the operators' locked baseline score when the suite has one, else stable's score on the same
run; the candidate passes overall when its score is at least the reference minus the tolerance, and, where the
suite sets ``category_tolerance``, in every category at least stable's score there minus that tolerance.
"""

from __future__ import annotations

from models.evals import EvalResult, EvalSuite
from models.record import GateReport


def eval_gate(result: EvalResult, suite: EvalSuite) -> GateReport:
    """Pass or fail, with the numbers a reader needs to check it and the failing cases (bounded)."""
    locked = suite.baseline is not None
    reference = suite.baseline if suite.baseline is not None else result.stable.score
    floor = reference - suite.tolerance
    problems: list[str] = []
    if result.candidate.score < floor:
        problems.append(f"score {result.candidate.score:.3f} < floor {floor:.3f}")
    if suite.category_tolerance is not None:
        for name, candidate in result.candidate.categories.items():
            stable = result.stable.categories.get(name, 0.0)
            if candidate < stable - suite.category_tolerance:
                problems.append(
                    f"category {name}: {candidate:.3f} < stable {stable:.3f} - {suite.category_tolerance:g}"
                )
    summary = (
        f"suite {result.suite} ({result.cases} cases, sha256 {result.sha256[:12]}): candidate "
        f"{result.candidate.score:.3f} vs {'locked baseline' if locked else 'stable'} {reference:.3f} "
        f"- tolerance {suite.tolerance:g}; stable scored {result.stable.score:.3f}; "
        f"{result.failing_total} failing case(s)"
    )
    if result.resumed:
        summary += f"; {result.resumed} case(s) resumed from the last heartbeat"
    if problems:
        summary += "; FAILED: " + "; ".join(problems)
    details = result.model_dump(mode="json")
    details["reference"] = reference
    details["locked_baseline"] = locked
    return GateReport(name="eval", passed=not problems, summary=summary, details=details)
