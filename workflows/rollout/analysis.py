"""Watching a step: analysis at a fixed cadence, the judge's verdict, the metrics-failure policy.

Continue-as-new happens here too, between analyses, when the history grows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.patch_epoch import patched

with workflow.unsafe.imports_passed_through():
    from models.activities import CounterPair, ReadCountersInput
    from models.counters import Counters, CustomValue
    from models.record import AnalysisEntry, CriterionEvidence, evidence_line
    from models.spec import RolloutSpec
    from models.verdicts import CriterionName
    from workflows.judge import CriterionResult, judge, new_judge_state
    from workflows.judge.models import ArmTotals, LatencyTestability
    from workflows.judge.testability import (
        MIN_READING_REQUESTS,
        decide_latency,
        lifetime_totals,
        refusals,
        untestable_at_start,
        untestable_decided,
        untestable_in_totals,
    )
    from workflows.judge.whole_rollout import ALPHA_SHARES as WHOLE_ALPHA_SHARES
    from workflows.rollout import calls, custom_metrics, input_drift
    from workflows.rollout.bounds import add_analysis
    from workflows.rollout.context import (
        ANALYSIS_CADENCE_PATCH,
        CARRY_AS_DIGESTED_PATCH,
        CONTINUE_AS_NEW_BUDGET_PATCH,
        COUNTER_RESTARTS_PATCH,
        DECISION_PATCH,
        DONE_BEFORE_HANDOVER_PATCH,
        JUDGE_DETECTION_PATCH,
        JUDGE_EVIDENCE_PATCH,
        JUDGE_THIRD_PATCH,
        JUDGE_WHOLE_ROLLOUT_PATCH,
        LEAN_HISTORY_PATCH,
        LOCAL_READS_PATCH,
        REMOTE_READS_PATCH,
        UNTESTABLE_ONCE_PATCH,
        RolloutRun,
        cause,
    )
    from workflows.rollout.interrupts import RollbackNeeded
    from workflows.rollout.moves import raise_if_moved
    from workflows.rollout.notify import drain
    from workflows.rollout.state import JudgeRules, state_digest
    from workflows.summaries import shown

HORIZON_SLACK = 2
"""The late-onset detector may restart at this many times the polls the steps' observe times hold: room for
extensions of inconclusive steps; past it the detector keeps running without new restarts."""
MAX_HORIZON_POLLS = 100_000
"""Cap on the detector's restarts (its threshold grows with their log): a year of 5-minute polls."""

CONTINUE_AS_NEW_EVENTS = 4_000
"""Before the ``continue-as-new-budget`` patch: continue-as-new past this many events, below Temporal's 10k warning."""
REPLAY_BUDGET_EVENTS = 300
"""Since the patch: a run continues as new past this many events, bounding what replaying it costs a restarted worker
or a cache eviction. ``python -m bench.replay_cost`` measured 0.87 ms an event on this 2-core machine (load 0.7), so
a run replays in about 260 ms: 2.6 times the 100 ms budget issue 24 sets, which would take ~115 events. 300 is a
first step (13 times below the 4,000 before), about 27 analyses of 11 events; docs/benchmarks.md has the figures."""
LEAN_HISTORY_EVENTS = 200
"""Since the ``lean-history`` patch: the replay budget itself. A run past N events, N = (B - F) / e with B = 100 ms,
F the fixed part and e the cost of one event of a run's replay (``python -m bench.replay_cost``: F about 0, e 0.35 to
0.5 ms on this 2-core machine at load 3, after summaries stopped being serialised on replay), replays within B:
200 events, about 15 analyses of 11 events after a continued run's ~30 events of start. ADR 42."""


async def watch(
    run: RolloutRun,
    index: int,
    *,
    done: Callable[[], bool],
    wake_at: Callable[[], datetime | None],
    summary: str,
    deadline: datetime | None = None,
) -> bool:
    """Analyse every interval until ``done()``; False when ``deadline`` passes first. Abort interrupts."""
    spec, s = run.spec, run.state
    while not done():
        run.raise_if_aborted()
        raise_if_moved(run)
        now = workflow.now()
        if deadline is not None and now >= deadline:
            return False
        if s.next_analysis_at is None:
            s.next_analysis_at = now + spec.analysis_interval
        wake = s.next_analysis_at
        hint = wake_at()
        if hint is not None and hint < wake:
            wake = hint
        if wake > now:
            # Named for what ends it: the caller's moment (step end, deadline), or the next analysis (with the
            # caller's moment after it, so a deadline is readable on every timer of a long wait).
            label = (
                summary
                if hint is not None and hint <= s.next_analysis_at
                else f"next analysis {wake:%H:%M:%S} UTC; {summary}"
            )
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(woken(run, done), timeout=wake - now, timeout_summary=shown(label))
        run.raise_if_aborted()
        raise_if_moved(run)
        if workflow.now() >= s.next_analysis_at:
            due = s.next_analysis_at
            await analyse(run, index)
            s.next_analysis_at = next_analysis(run, due)
            run.show()
        if done() and patched(DONE_BEFORE_HANDOVER_PATCH):
            break  # the caller acts on what ended the wait (an override) in this run; it hands over afterwards
        await continue_as_new_if_due(run)
    return True


def next_analysis(run: RolloutRun, due: datetime) -> datetime:
    """A fixed cadence (an analysis that ran late does not push every later one back)."""
    interval = run.spec.analysis_interval
    now = workflow.now()
    if not patched(ANALYSIS_CADENCE_PATCH):
        return now + interval
    following = due + interval
    return following if following > now else now + interval


def woken(run: RolloutRun, done: Callable[[], bool]) -> Callable[[], bool]:
    """Wake a wait on abort, on any accepted signal (pause, resume, approval) or when ``done()``."""
    interrupts = run.interrupts
    seen = interrupts.wakeups
    return lambda: interrupts.abort is not None or interrupts.wakeups != seen or done()


async def read_counters(run: RolloutRun, summary: str) -> CounterPair:
    """Both versions' counters; an abort stops the wait at once.

    Under ``COUNTER_RESTARTS_PATCH`` the read passes the instants of the step's previous readings (none before the
    baseline), so the provider can report what a pod served before a restart in between.
    """
    spec, state = run.spec, run.state.judge_state
    restarts = patched(COUNTER_RESTARTS_PATCH)
    stable_since = candidate_since = None
    if restarts and state is not None:
        # Watching after promotion, stable serves nothing and its reading is set aside: nothing to search.
        stable_since = None if run.state.watching else state.last_stable.at
        candidate_since = state.last_candidate.at
    return await run.interruptible(
        calls.read_counters(
            ReadCountersInput(
                metrics=run.metrics(),
                service=spec.service,
                stable_version=spec.stable.version,
                candidate_version=spec.candidate.version,
                custom=custom_metrics.definitions(run),
                restarts=restarts,
                stable_since=stable_since,
                candidate_since=candidate_since,
            ),
            summary=summary,
            # A new rollout reads remotely (REMOTE_READS_PATCH, checked first so it records no local-reads
            # marker); one whose history already reads locally goes on doing so, so that it replays.
            local=not patched(REMOTE_READS_PATCH) and patched(LOCAL_READS_PATCH),
        )
    )


async def take_baseline(run: RolloutRun) -> None:
    """Counters at the step's start: every analysis of the step counts from here."""
    try:
        pair = await read_counters(run, "baseline: read counters of both versions")
    except ActivityError as exc:
        run.note("baseline unavailable", f"{cause(exc)}; the first analysis will take it")
        return
    start_judge(run, pair)


def keep_baseline(run: RolloutRun, pair: CounterPair) -> None:
    """Stable's cumulative counters: what a recovery after a rollback is measured against.

    The first reading is taken before any traffic moves (``check_testability``); while the kept one has fewer
    requests than the recovery rule needs (a service the metrics have barely seen), a later reading replaces it,
    so the baseline is the earliest one with enough traffic.
    """
    s = run.state
    if not s.notify_patch:
        return
    recovery = s.policy.policy.recovery if s.policy is not None else None
    enough = recovery.min_requests if recovery is not None else 1
    if s.recovery_baseline is None or s.recovery_baseline.requests < enough:
        s.recovery_baseline = pair.stable


def horizon_polls(spec: RolloutSpec) -> int:
    """Polls of the whole rollout at which the late-onset detector may restart."""
    interval = spec.analysis_interval.total_seconds()
    observed = sum(step.observe.total_seconds() for step in spec.steps)
    return max(1, min(MAX_HORIZON_POLLS, int(HORIZON_SLACK * observed // max(interval, 1.0)) + 1))


def judge_rules(
    *,
    first_step: bool,
    carried_whole: bool,
    whole_patch: bool,
    detection_patch: bool = False,
    third_patch: bool = False,
) -> JudgeRules:
    """The judge a rollout keeps for its whole life, chosen when the ``judge-evidence`` patch is first met.

    At the rollout's first step that is the robust judge (where the whole-rollout judge is on). A rollout that
    meets the patch at a later step started under older code: it keeps the judge its earlier steps used, which a
    carried state shows (only the whole-rollout judge carries one), instead of switching judges mid-rollout.
    ``detection_patch``: the ``judge-evidence-2`` patch is on at that first step, and the robust judge is its
    second version ("evidence-2"); only a first step chooses it, so no rollout changes judge mid-way.
    ``third_patch``: the ``judge-evidence-3`` patch is on at that first step (with ``detection_patch``): the third
    version ("evidence-3").
    """
    if first_step:
        if not whole_patch:
            return "per-step"
        if detection_patch:
            return "evidence-3" if third_patch else "evidence-2"
        return "evidence"
    return "whole-rollout" if carried_whole else "per-step"


def untestable_once(run: RolloutRun) -> bool:
    """Whether this rollout decides the p95's testability once per step (issue 19), chosen at its first step.

    A rollout that meets the patch at a later step started under older code and keeps the per-poll rule.
    """
    s = run.state
    if s.untestable_once is None:
        first = len([r for r in s.record.steps if r.kind != "shadow"]) <= 1 and s.judge_carried is None
        s.untestable_once = first and patched(UNTESTABLE_ONCE_PATCH)
    return s.untestable_once


def start_judge(run: RolloutRun, pair: CounterPair) -> None:
    """A new step's judge state from its baseline reading; whole-rollout under its patch (ADR 13)."""
    s, method = run.state, run.judge_method()
    keep_baseline(run, pair)
    whole = method == "sequential" and patched(JUDGE_WHOLE_ROLLOUT_PATCH)
    if s.judge_rules is None and method == "sequential" and patched(JUDGE_EVIDENCE_PATCH):
        # A shadow item's report moved no traffic: the first canary after it is still the first step.
        first = len([r for r in s.record.steps if r.kind != "shadow"]) <= 1 and s.judge_carried is None
        detection = first and whole and patched(JUDGE_DETECTION_PATCH)
        third = detection and patched(JUDGE_THIRD_PATCH)
        s.judge_rules = judge_rules(
            first_step=first,
            carried_whole=s.judge_carried is not None,
            whole_patch=whole,
            detection_patch=detection,
            third_patch=third,
        )
    robust = detection = third = False
    if s.judge_rules is not None:
        whole = s.judge_rules != "per-step"
        robust = s.judge_rules in ("evidence", "evidence-2", "evidence-3")
        detection = s.judge_rules in ("evidence-2", "evidence-3")
        third = s.judge_rules == "evidence-3"
    s.judge_state = new_judge_state(
        pair.stable,
        pair.candidate,
        method=method,
        whole_rollout=whole,
        alpha_share=1.0 / len(run.spec.steps) if whole else 1.0,
        horizon_polls=horizon_polls(run.spec) if whole else 0,
        carried=s.judge_carried if whole else None,
        robust=robust,
        detection=detection,
        third=third,
        testability_once=untestable_once(run),
    )


def start_watch_judge(run: RolloutRun, pair: CounterPair) -> None:
    """A watch's judge: stable's counters now are all its evidence; the candidate counts from now.

    Stable's side starts from zero, so every analysis of the watch sees stable's whole recorded behaviour against
    the candidate's traffic since the cutover. A watch is judged on its own alpha (not the whole rollout's).
    """
    s = run.state
    s.watch_baseline = pair.stable
    s.judge_state = new_judge_state(zeroed(pair.stable), pair.candidate, method=run.judge_method())


def zeroed(counters: Counters) -> Counters:
    """The same shape of counters (latency bounds, input features) with every count at zero."""
    return Counters(
        requests=0,
        errors=0,
        latency_ms_buckets=[(bound, 0) for bound, _ in counters.latency_ms_buckets],
        inputs={feature: dict.fromkeys(values, 0) for feature, values in counters.inputs.items()},
        custom={name: CustomValue(value=0.0) for name in counters.custom},
    )


async def analyse(run: RolloutRun, index: int) -> None:
    """One analysis: read, judge, record; a failing criterion or a breached trigger rolls back."""
    spec, s = run.spec, run.state
    now = workflow.now()
    try:
        pair = await read_counters(run, f"analysis: step {index + 1} at {s.weight:g}%")
    except ActivityError as exc:
        await analysis_failed(run, index, cause(exc))
        return
    if s.watching and s.watch_baseline is not None:
        # After promotion stable serves nothing: the candidate is judged against stable's counters at the cutover.
        pair = CounterPair(stable=s.watch_baseline, candidate=pair.candidate)
    keep_baseline(run, pair)
    if s.consecutive_failures:
        run.note("metrics back", f"after {s.consecutive_failures} failed analyses")
    s.consecutive_failures = 0
    if s.judge_state is None:
        (start_watch_judge if s.watching else start_judge)(run, pair)
        run.note("baseline taken", "late: the step's first reading failed")
        return
    try:
        verdict = judge(
            s.judge_state,
            stable=pair.stable,
            candidate=pair.candidate,
            criteria=custom_metrics.builtin_criteria(run),
            triggers=spec.rollback_triggers,
        )
        custom = custom_metrics.assess(run, s.judge_state, verdict.state, pair)
    except ValueError as exc:  # inconsistent counters from the provider: an analysis error, never a pass
        await analysis_failed(run, index, f"unusable counters: {exc}")
        return
    s.judge_state = custom.state or verdict.state
    decision, reason = verdict.decision, verdict.reason
    if custom.failed():
        reason = custom.reason() if decision != "rollback" else f"{reason}; {custom.reason()}"
        decision = "rollback"
    elif decision == "pass" and not custom.all_pass():
        decision = "continue"
    drifted = input_drift.assess(run, pair)  # criteria.input_drift only: None otherwise
    accepted: frozenset[str] = frozenset()
    if patched(DECISION_PATCH):
        judged = verdict.state
        decided = judged.latency_testability if judged.testability_once else None
        if judged.testability_once:
            # Issue 19: the step's decision, made once from a confidence statement, never a point estimate.
            found = untestable_decided(judged.stable, judged.candidate, spec.criteria, decided)
        else:
            found = untestable_in_totals(judged.stable, judged.candidate, spec.criteria)
        if judged.whole_rollout:
            # The judge's own untestable verdicts name the resolution that would make the criterion testable.
            found = {**found, **{c.name: c.note for c in verdict.criteria if c.verdict == "untestable"}}
        accepted = settle_testability(run, found, decided)
    evidence = evidence_of(verdict.criteria)
    breached: list[str] = [t.name for t in verdict.triggers if t.breached]
    breached += [f"custom:{v.metric}" for v in custom.failed() if v.kind == "count"]
    deciding = decision == "rollback"
    entry = AnalysisEntry(
        at=now,
        step=index,
        weight=s.weight,
        decision=decision,
        reason=reason if deciding or decision != "continue" else "",
        evidence=[evidence_line(e) for e in evidence],
        criteria=evidence if deciding else [],
        triggers_breached=breached,
        warnings=[*verdict.warnings, *input_drift.warning(drifted)],
        custom=custom.verdicts,
    )
    add_analysis(s.record, entry)
    report = s.record.steps[-1]
    report.analyses += 1
    report.final = evidence
    held_by_drift = input_drift.act(run, drifted) if not deciding else False
    if report.evidence != "override":
        passed = not held_by_drift and (
            decision == "pass"
            or (
                decision == "continue"
                and not breached
                and all(c.verdict == "pass" or c.name in accepted for c in verdict.criteria)
                and custom.all_pass()
            )
        )
        if (passed and report.evidence != "pass") or deciding:
            report.deciding_analysis = entry
        report.evidence = "pass" if passed else "inconclusive"
    if evidence:
        report.candidate_requests = evidence[0].samples[1]
        report.stable_requests = evidence[0].samples[0]
    if decision == "rollback":
        raise RollbackNeeded("analysis", reason)


def settle_testability(
    run: RolloutRun, found: Mapping[CriterionName, str], latency: LatencyTestability | None = None
) -> frozenset[str]:
    """Record the untestable criteria the spec accepts; any other ends the rollout now, never by waiting.

    Under ``untestable-once`` an accepted p95 whose smallest detectable ratio (``latency``, the step's decision)
    exceeds ``accept_untestable_ratio_max`` is refused too. Returns the accepted ones, which a step's evidence then
    does not need to pass.
    """
    record = run.state.record
    ratio_max = run.spec.untestable_ratio_max if run.state.untestable_once else None
    refused = refusals(found, run.spec.accept_untestable, ratio_max, latency)
    if refused:
        listed = "; ".join(f"{name}: {why}" for name, why in refused.items())
        unlisted = [name for name in refused if name not in run.spec.accept_untestable]
        tail = "; list it in accept_untestable to accept the coarser test" if unlisted else ""
        raise RollbackNeeded("untestable", f"the metrics cannot test {', '.join(refused)} ({listed}){tail}")
    for name, why in found.items():
        if name not in record.untestable:
            record.untestable[name] = why
            run.note("criterion untestable, accepted", f"{name}: {why}")
    return frozenset(record.untestable)


async def check_testability(run: RolloutRun) -> None:
    """Before any traffic moves: can stable's own metrics test every criterion?

    Unreadable metrics wait for the first analysis, which has the failure policy.
    """
    try:
        pair = await read_counters(run, "testability: can the metrics test every criterion?")
    except ActivityError as exc:
        run.note("testability not checked", f"{cause(exc)}; the first analysis will check")
        return
    keep_baseline(run, pair)  # read before any traffic moved: the truest baseline
    criteria = run.spec.criteria
    if not untestable_once(run):
        settle_testability(run, untestable_at_start(pair.stable, criteria))
        return
    lifetime = lifetime_totals(pair.stable)
    decided = None
    if lifetime.latency_total >= MIN_READING_REQUESTS:
        alpha = criteria.alpha * WHOLE_ALPHA_SHARES["latency_p95"]
        decided = decide_latency(lifetime, criteria.latency_p95_ratio_max, alpha)
    settle_testability(run, untestable_decided(lifetime, ArmTotals(), criteria, decided), decided)


async def analysis_failed(run: RolloutRun, index: int, error: str) -> None:
    """Count a failed analysis; at the policy's limit, roll back or pause for a person."""
    spec, s = run.spec, run.state
    s.consecutive_failures += 1
    s.record.steps[-1].analysis_errors += 1
    add_analysis(
        s.record,
        AnalysisEntry(at=workflow.now(), step=index, weight=s.weight, decision="error", reason=error, error=error),
    )
    policy = spec.analysis_failures
    run.note("analysis failed", f"{error} ({s.consecutive_failures}/{policy.max_consecutive} in a row)")
    if s.consecutive_failures < policy.max_consecutive:
        return
    if policy.action == "rollback":
        raise RollbackNeeded("analysis_failures", f"{s.consecutive_failures} analyses in a row failed; last: {error}")
    if s.paused_by is None:
        s.paused_by, s.paused_at = "policy:analysis_failures", workflow.now()
        s.clock.stop(workflow.now())
        run.note("paused by policy", f"{s.consecutive_failures} analyses in a row failed; resume when fixed")
        run.upsert()


def evidence_of(results: Sequence[CriterionResult]) -> list[CriterionEvidence]:
    """The judge's results in the record's compact form."""
    return [
        CriterionEvidence(
            name=r.name,
            verdict=r.verdict,
            stable=r.stable_estimate,
            candidate=r.candidate_estimate,
            observed=r.observed,
            limit=r.limit,
            lower=r.lower_bound,
            upper=r.upper_bound,
            e_value=r.e_value,
            samples=(r.samples_stable, r.samples_candidate),
            note=r.note,
        )
        for r in results
    ]


async def continue_as_new_if_due(run: RolloutRun) -> None:
    """Hand the state to a fresh run once the history is long, after every handler has finished.

    Under the ``continue-as-new-budget`` patch the threshold is the replay budget and an abort that arrives while
    deliveries drain is served at once (in this run) instead of after them: with a hand-over every few hours, a
    dead webhook must not hold up a rollback for its delivery's timeout. Under ``lean-history`` the budget is the
    measured 100 ms (``LEAN_HISTORY_EVENTS``).
    """
    info = workflow.info()
    budget = patched(CONTINUE_AS_NEW_BUDGET_PATCH)
    limit = REPLAY_BUDGET_EVENTS if budget else CONTINUE_AS_NEW_EVENTS
    if budget and patched(LEAN_HISTORY_PATCH):
        limit = LEAN_HISTORY_EVENTS
    if not (info.is_continue_as_new_suggested() or info.get_current_history_length() > limit):
        return
    await workflow.wait_condition(workflow.all_handlers_finished)
    aborted = (lambda: run.interrupts.abort is not None) if budget else None
    await drain(run.state, run.deliveries, unless=aborted)  # a delivery in flight would be abandoned, its count lost
    if run.interrupts.abort is not None:
        return  # a rollback was asked meanwhile: handle it in this run
    run.note("continue-as-new", f"history at {info.get_current_history_length()} events")
    if run.state.target is not None:  # under the trust-boundary rules: the next run checks what it is handed
        run.state.carried_digest = None
        run.state.carried_digest = state_digest(run.state)
    # The arguments are serialised only once the workflow has unwound, after every ``finally`` on the way out:
    # hand over the state exactly as digested, not as those blocks leave it.
    carried = run.state.model_copy(deep=True) if patched(CARRY_AS_DIGESTED_PATCH) else run.state
    workflow.continue_as_new(args=[run.raw_spec, carried])
