"""The canary judge: compares a candidate model version with stable, poll after poll, within one canary step.

Usage from the workflow::

    state = new_judge_state(stable_counters, candidate_counters, method="sequential")  # at the step's start
    ...
    j = judge(state, stable=..., candidate=..., criteria=criteria, triggers=triggers)  # at every poll
    state = j.state
    if j.decision == "rollback": ...

Two methods share the counter handling (``increments``), the hard triggers and the result models:

* ``threshold`` (``threshold.py``): point estimates against the limits once ``min_requests`` are in.
* ``sequential`` (``error_rate.py``, ``latency.py``, ``quality.py``): anytime-valid tests whose
  false-rollback rate stays below ``criteria.alpha`` however often the workflow polls. With
  ``whole_rollout=True`` (``whole_rollout.py``, ADR 13) the budget holds for the whole rollout: pass the previous
  step's final state as ``carried``, ``1 / steps`` as ``alpha_share`` and the rollout's polls as ``horizon_polls``.

The module is pure and deterministic (no I/O, clock or randomness), so it is safe inside the Temporal
workflow sandbox and replays identically.
"""

from __future__ import annotations

from models.counters import Counters
from models.criteria import Criteria, RollbackTriggers
from models.verdicts import Decision, JudgeMethod, Verdict
from workflows.judge.increments import accumulate, increment, validate_counters
from workflows.judge.models import (
    ArmTotals,
    CriterionResult,
    Judgement,
    JudgeState,
    LatencyTestability,
    SequentialState,
    TriggerResult,
)
from workflows.judge.reason import reason
from workflows.judge.sequential import ALPHA_SHARES as STEP_ALPHA_SHARES
from workflows.judge.sequential import new_sequential_state, sequential_criteria
from workflows.judge.testability import decide_latency, decision_sample
from workflows.judge.threshold import hard_triggers, p95_pair, threshold_criteria
from workflows.judge.whole_rollout import ALPHA_SHARES as WHOLE_ALPHA_SHARES
from workflows.judge.whole_rollout import error_trigger_evidence

__all__ = [
    "CriterionResult",
    "Decision",
    "JudgeMethod",
    "JudgeState",
    "Judgement",
    "TriggerResult",
    "Verdict",
    "judge",
    "new_judge_state",
]


def new_judge_state(
    stable: Counters,
    candidate: Counters,
    *,
    method: JudgeMethod,
    whole_rollout: bool = False,
    alpha_share: float = 1.0,
    horizon_polls: int = 0,
    carried: JudgeState | None = None,
    robust: bool = False,
    detection: bool = False,
    third: bool = False,
    testability_once: bool = False,
) -> JudgeState:
    """Start a canary step: the raw counters read now are the baseline every later increment counts from.

    Args:
        stable: Stable's raw counters now.
        candidate: Candidate's raw counters now.
        method: ``sequential`` or ``threshold``.
        whole_rollout: The whole-rollout judge (``whole_rollout.py``): runs started under its patch.
        alpha_share: Share of the latency and quality budgets this step may spend (1 / the number of steps).
        horizon_polls: Polls of the whole rollout at which the late-onset detector may restart.
        carried: The previous step's final state: the whole-rollout judge carries its error-rate test on.
        robust: Issue 19's judge on top of the whole-rollout one (runs started under ``judge-evidence``): see
            ``JudgeState.robust``. Ignored without ``whole_rollout``.
        detection: Issue 19's second judge on top of the robust one (runs started under ``judge-evidence-2``):
            see ``JudgeState.detection``. Ignored without ``robust``.
        third: Issue 19's third judge on top of the second (runs started under ``judge-evidence-3``): see
            ``JudgeState.third``. Ignored without ``detection``.
        testability_once: Issue 19 (runs started under ``untestable-once``): the p95's testability is decided
            once in the step from a confidence statement (``testability.decide_latency``), not at every poll.

    Raises:
        ValueError: A reading is inconsistent; the message names the field.
    """
    if method not in ("threshold", "sequential"):
        raise ValueError(f"method must be 'threshold' or 'sequential', got {method!r}")
    validate_counters(stable, "stable")
    validate_counters(candidate, "candidate")
    sequential = new_sequential_state() if method == "sequential" else None
    if sequential is not None and whole_rollout and carried is not None and carried.sequential is not None:
        test = carried.sequential.error_rate
        if robust and test is not None:
            # The fail evidence is carried; the pass is earned again at every step.
            test = test.model_copy(update={"step_log_likelihood": []})
        sequential = sequential.model_copy(update={"error_rate": test})
    return JudgeState(
        method=method,
        last_stable=stable,
        last_candidate=candidate,
        sequential=sequential,
        whole_rollout=whole_rollout,
        alpha_share=alpha_share,
        horizon_polls=horizon_polls,
        robust=robust and whole_rollout and method == "sequential",
        detection=detection and robust and whole_rollout and method == "sequential",
        third=third and detection and robust and whole_rollout and method == "sequential",
        testability_once=testability_once,
    )


def _latency_alpha(state: JudgeState, criteria: Criteria) -> float:
    """The latency test's alpha for this step: the confidence level of the step's testability decision."""
    shares = WHOLE_ALPHA_SHARES if state.whole_rollout else STEP_ALPHA_SHARES
    return criteria.alpha * shares["latency_p95"] * state.alpha_share


def _decide_testability(state: JudgeState, stable: ArmTotals, criteria: Criteria) -> LatencyTestability | None:
    """The step's testability decision: kept once made, made at the first poll with enough stable observations."""
    if not state.testability_once or state.latency_testability is not None:
        return state.latency_testability
    if stable.latency_total < decision_sample(criteria):
        return None
    return decide_latency(stable, criteria.latency_p95_ratio_max, _latency_alpha(state, criteria))


def _robust_error_trigger(
    trigger: TriggerResult,
    sequential: SequentialState | None,
    criteria: Criteria,
    triggers: RollbackTriggers,
    *,
    detection: bool = False,
    third: bool = False,
) -> TriggerResult:
    """Issue 19's hard error trigger: the carried error test's evidence beyond the trigger ratio (inside alpha)."""
    if sequential is None or trigger.note.startswith("waiting for data"):
        return trigger
    alpha = criteria.alpha * WHOLE_ALPHA_SHARES["error_rate"]
    breached, _ = error_trigger_evidence(sequential, triggers.error_rate_ratio, alpha, detection=detection, third=third)
    note = trigger.note
    if not breached and trigger.observed is not None and trigger.observed > trigger.limit:
        note = "ratio above the trigger, but the dispersion-aware evidence does not establish it yet"
    return trigger.model_copy(update={"breached": breached, "note": note})


def _decision(criteria: list[CriterionResult], triggers: list[TriggerResult]) -> Decision:
    if any(trigger.breached for trigger in triggers) or any(result.verdict == "fail" for result in criteria):
        return "rollback"
    if all(result.verdict == "pass" for result in criteria):
        return "pass"
    return "continue"


def _counter_warnings(name: str, totals: ArmTotals, previous: ArmTotals) -> list[str]:
    warnings = []
    if totals.resets > previous.resets:
        warnings.append(f"{name} counters went down (process restart): counting the new reading from zero")
    if totals.latency_skipped_polls > previous.latency_skipped_polls:
        warnings.append(f"{name} latency bucket layout changed: this poll's latency increment was dropped")
    if totals.layout_changes and len(totals.latency_bounds) < len(previous.latency_bounds):
        warnings.append(
            f"{name} latency histogram now compared on the {len(totals.latency_bounds)} bucket bounds common "
            "to every layout seen in this step"
        )
    return warnings


def judge(
    state: JudgeState,
    *,
    stable: Counters,
    candidate: Counters,
    criteria: Criteria,
    triggers: RollbackTriggers,
    evidence: bool = True,
) -> Judgement:
    """Judge the step so far from the raw cumulative counters read now.

    Args:
        state: ``new_judge_state()`` at the step's start, then the previous judgement's ``state``.
        stable: Stable's raw cumulative counters now.
        candidate: Candidate's raw cumulative counters now.
        criteria: The rollout's pre-registered criteria (fixed for the step).
        triggers: The rollout's hard rollback triggers.
        evidence: False, for simulations that only need decisions: the same decision, verdicts and state,
            without the parts only a reader uses (the reason sentence is empty, error-rate bounds are None).

    Returns:
        The decision, per-criterion and per-trigger evidence, a one-sentence reason, warnings and the next state.

    Raises:
        ValueError: A reading is inconsistent (the message names the field), or the criteria changed mid-step.
    """
    validate_counters(stable, "stable")
    validate_counters(candidate, "candidate")
    stable_step = increment(state.last_stable, stable)
    candidate_step = increment(state.last_candidate, candidate)
    stable_totals = accumulate(state.stable, stable_step)
    candidate_totals = accumulate(state.candidate, candidate_step)
    warnings = _counter_warnings("stable", stable_totals, state.stable)
    warnings += _counter_warnings("candidate", candidate_totals, state.candidate)

    quantiles = p95_pair(stable_totals, candidate_totals)
    decided = _decide_testability(state, stable_totals, criteria)
    sequential = state.sequential
    if state.method == "sequential":
        assert sequential is not None
        results, more_warnings, sequential = sequential_criteria(
            sequential,
            previous=(state.stable, state.candidate),
            steps=(stable_step, candidate_step),
            totals=(stable_totals, candidate_totals),
            criteria=criteria,
            last_stable=state.last_stable,
            quantiles=quantiles,
            evidence=evidence,
            whole_rollout=state.whole_rollout,
            alpha_share=state.alpha_share,
            horizon=state.horizon_polls,
            robust=state.robust,
            detection=state.detection,
            third=state.third,
            testability=decided if state.testability_once else None,
            testability_once=state.testability_once,
        )
    else:
        results, more_warnings = threshold_criteria(stable_totals, candidate_totals, criteria, quantiles)
    warnings += more_warnings
    trigger_results = hard_triggers(
        stable_totals, candidate_totals, criteria, triggers, quantiles, require_evidence=state.method == "sequential"
    )
    if state.robust:
        trigger_results = [
            _robust_error_trigger(t, sequential, criteria, triggers, detection=state.detection, third=state.third)
            if t.name == "error_rate"
            else t
            for t in trigger_results
        ]
    decision = _decision(results, trigger_results)
    next_state = state.model_copy(
        update={
            "polls": state.polls + 1,
            "last_stable": stable,
            "last_candidate": candidate,
            "stable": stable_totals,
            "candidate": candidate_totals,
            "sequential": sequential,
            "latency_testability": decided,
        }
    )
    return Judgement(
        decision=decision,
        criteria=results,
        triggers=trigger_results,
        reason=reason(decision, results, trigger_results) if evidence else "",
        warnings=warnings,
        state=next_state,
    )
