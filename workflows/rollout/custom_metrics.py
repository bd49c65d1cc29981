"""Custom metrics in an analysis: which definitions to read, their verdicts, and the count ceilings' tallies.

The statistics are pure (``workflows.judge.custom``); this module picks the target's definitions the spec names,
keeps the count tallies in the state across steps and runs, and turns the verdicts into the analysis' decision.

Behind ``CUSTOM_METRICS_PATCH``; only a spec that lists ``criteria.custom`` reaches it (a field older specs could
not carry), so every other rollout and every recorded history runs as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio import workflow

from workflows.patch_epoch import patched

with workflow.unsafe.imports_passed_through():
    from models.activities import CounterPair
    from models.criteria import Criteria
    from models.custom_metrics import CustomMetric, CustomVerdict, effective_limit, used_definitions
    from models.durations import format_duration
    from models.strategy import ABTestStep, guard_alpha, mirror_alpha
    from workflows.judge import JudgeState
    from workflows.judge.custom import (
        builtin_alpha,
        count_verdict,
        counting,
        judge_custom,
        statistical,
        tally_counts,
    )
    from workflows.rollout.context import RolloutRun
    from workflows.rollout.state import CustomCounts

CUSTOM_METRICS_PATCH = "custom-metrics"
AB_BUDGET_PATCH = "ab-test-alpha-budget"
"""An A/B test's winner interval spends a share of ``criteria.alpha`` and the guard the rest: a rollout with an
ab_test that started before judged both at the whole alpha, and replays so."""


def ab_budget(run: RolloutRun) -> bool:
    """Whether this rollout splits its one alpha between an A/B test and the guard (only a spec with an ab_test)."""
    strategy = run.spec.strategy
    if not strategy or not any(isinstance(item, ABTestStep) for item in strategy):
        return False
    return patched(AB_BUDGET_PATCH)


def guard_alpha_of(run: RolloutRun) -> float:
    """The alpha the guard's criteria (built-in and custom) share in this rollout, at the item being judged.

    A strategy with mirror items splits it once more (``MIRROR_ALPHA_SHARE``): the judge of a mirror item (the last
    step report is the open shadow item's: a replay shadow is never judged) spends the mirrors' part, every other
    step the rest. Only a spec with a mirror item reaches the split, and no rollout before it could carry one.
    """
    alpha = run.spec.criteria.alpha
    guard = guard_alpha(alpha, run.spec.strategy) if ab_budget(run) else alpha
    steps = run.state.record.steps
    in_mirror = bool(steps) and steps[-1].kind == "shadow" and not run.state.watching
    return mirror_alpha(guard, run.spec.strategy, in_mirror=in_mirror)


def definitions(run: RolloutRun) -> dict[str, CustomMetric]:
    """The target's definitions of the custom metrics the spec judges (none: an empty dict, nothing is read)."""
    criteria = run.spec.criteria.custom
    if not criteria or run.state.target is None or not patched(CUSTOM_METRICS_PATCH):
        return {}
    return used_definitions(criteria, run.state.target.target.custom_metrics)


def builtin_criteria(run: RolloutRun) -> Criteria:
    """The criteria the built-in judge uses: the spec's, with the alpha an A/B test and the custom tests leave."""
    criteria = run.spec.criteria
    tested = statistical(criteria.custom, definitions(run))
    alpha = guard_alpha_of(run)
    if not tested and alpha == criteria.alpha:
        return criteria
    return criteria.model_copy(update={"alpha": builtin_alpha(alpha, len(tested))})


@dataclass
class CustomOutcome:
    """One analysis' custom verdicts, in the spec's order, and the judge state carrying their tests."""

    verdicts: list[CustomVerdict] = field(default_factory=list)
    state: JudgeState | None = None

    def failed(self) -> list[CustomVerdict]:
        """The verdicts that roll back."""
        return [v for v in self.verdicts if v.verdict == "fail"]

    def all_pass(self) -> bool:
        """Whether every custom metric passes (a step's evidence needs it)."""
        return all(v.verdict == "pass" for v in self.verdicts)

    def reason(self) -> str:
        """Why the custom metrics roll back, in one sentence."""
        parts = []
        for v in self.failed():
            if v.kind == "count":
                parts.append(f"{v.metric}: {v.note}")
            else:
                bounds = (
                    f" (bounds {v.lower:.4g}..{v.upper:.4g})" if v.lower is not None and v.upper is not None else ""
                )
                parts.append(f"{v.metric}: the {v.kind} is worse than the limit {v.limit:g}{bounds}")
        return "custom metrics failed: " + "; ".join(parts)


def assess(run: RolloutRun, before: JudgeState, after: JudgeState, pair: CounterPair) -> CustomOutcome:
    """Judge every custom metric on this reading; ``before``/``after`` are the judge states around it.

    Raises:
        ValueError: A reading lacks a custom metric: an analysis error, never a pass.
    """
    defs = definitions(run)
    if not defs:
        return CustomOutcome(state=after)
    spec, s = run.spec, run.state
    results, tests = judge_custom(
        before.custom,
        last=(before.last_stable, before.last_candidate),
        now=(pair.stable, pair.candidate),
        requests=(after.stable.requests - before.stable.requests, after.candidate.requests - before.candidate.requests),
        candidate_requests=after.candidate.requests,
        criteria=spec.criteria.custom,
        definitions=defs,
        alpha=guard_alpha_of(run),
        alpha_share=before.alpha_share,
        min_requests=spec.criteria.min_requests,
    )
    by_name = {v.metric: v for v in results}
    counts = [c for c in spec.criteria.custom if defs[c.metric].kind == "count"]
    if counts:
        elapsed = workflow.now() - s.record.started_at
        names = [c.metric for c in counts if counting(defs[c.metric], elapsed)]
        tally = s.custom_counts
        if tally is None:  # the first analysis counts from the step's baseline reading
            baseline = before.last_candidate.custom
            tally = CustomCounts(last={n: baseline[n].value for n in names if n in baseline})
        last, totals = tally_counts(tally.last, tally.totals, pair.candidate, names)
        s.custom_counts = CustomCounts(last=last, totals=totals)
        for criterion in counts:
            name, window = criterion.metric, defs[criterion.metric].window
            if name in names:
                by_name[name] = count_verdict(name, totals[name], effective_limit(defs[name], criterion))
            else:  # its window has ended: the ceiling no longer applies
                note = f"counted in the first {format_duration(window)} only" if window is not None else ""
                by_name[name] = CustomVerdict(
                    metric=name,
                    kind="count",
                    verdict="pass",
                    candidate=totals.get(name, 0.0),
                    observed=totals.get(name, 0.0),
                    limit=effective_limit(defs[name], criterion),
                    note=note,
                )
    ordered = [by_name[c.metric] for c in spec.criteria.custom if c.metric in by_name]
    return CustomOutcome(verdicts=ordered, state=after.model_copy(update={"custom": tests}))
