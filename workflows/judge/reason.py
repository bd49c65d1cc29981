"""One human sentence per judgement, with the numbers that drove it.

The sentence lands in workflow history, alerts and the rollout log, where people decide whether to trust an
automatic rollback; it names the criterion, both estimates, the sample sizes and the comparison.
"""

from __future__ import annotations

import math

from models.verdicts import Decision
from workflows.judge.models import CriterionResult, TriggerResult


def _number(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value:.{digits}g}"


def _e_value(value: float) -> str:
    return f"{value:.3g}" if value < 1e6 else f"{value:.1e}"


def _estimates(result: CriterionResult) -> str:
    stable, candidate = result.stable_estimate, result.candidate_estimate
    if result.name == "error_rate":
        unit = "requests"
        text = f"candidate {_percent(candidate)} vs stable {_percent(stable)}"
    elif result.name == "latency_p95":
        unit = "latency samples"
        text = f"candidate p95 {_number(candidate)} ms vs stable {_number(stable)} ms"
    else:
        unit = "scores"
        text = f"candidate mean {_number(candidate)} vs stable {_number(stable)}"
    return f"{text} over {result.samples_candidate:,}/{result.samples_stable:,} {unit}"


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.3g}%"


def _comparison(result: CriterionResult) -> str:
    if result.comparison == "ratio":
        observed = f"ratio {_number(result.observed, 4)}"
    else:
        observed = "difference n/a" if result.observed is None else f"difference {result.observed:+.3f}"
    if result.verdict == "fail":
        relation = " > " if result.comparison == "ratio" else " < "
    elif result.verdict == "pass":
        relation = " <= " if result.comparison == "ratio" else " >= "
    else:
        relation = " vs limit "
    parts = [f"{observed}{relation}{result.limit:g}"]
    if result.lower_bound is not None or result.upper_bound is not None:
        parts.append(f"confidence bounds [{_number(result.lower_bound)}, {_number(result.upper_bound)}]")
    if result.e_value is not None:
        parts.append(f"e-value {_e_value(result.e_value)}")
    return ", ".join(parts)


def describe_criterion(result: CriterionResult) -> str:
    """E.g. ``error_rate failed: candidate 3.02% vs stable 1.01% over 5,210/497,000 requests (ratio 2.99 > 1.2)``."""
    verb = {"fail": "failed", "pass": "passed", "inconclusive": "inconclusive", "untestable": "untestable"}[
        result.verdict
    ]
    text = f"{result.name} {verb}: {_estimates(result)} ({_comparison(result)})"
    if result.note and result.verdict != "pass":
        text += f" [{result.note}]"
    return text


def describe_trigger(trigger: TriggerResult, criterion: CriterionResult) -> str:
    """A breached hard trigger, with the same estimates as the matching criterion."""
    return (
        f"{trigger.name} hard trigger breached: {_estimates(criterion)} "
        f"(ratio {_number(trigger.observed, 4)} > {trigger.limit:g})"
    )


def reason(decision: Decision, criteria: list[CriterionResult], triggers: list[TriggerResult]) -> str:
    """The sentence for a decision: the first breach or failure, all passes, or what is still missing."""
    by_name = {result.name: result for result in criteria}
    if decision == "rollback":
        for trigger in triggers:
            if trigger.breached:
                return describe_trigger(trigger, by_name[trigger.name])
        failed = [describe_criterion(result) for result in criteria if result.verdict == "fail"]
        return "; ".join(failed)
    if decision == "pass":
        return "all criteria passed: " + "; ".join(describe_criterion(result) for result in criteria)
    pending = [describe_criterion(result) for result in criteria if result.verdict != "pass"]
    return "no decision yet: " + "; ".join(pending)
