"""Issue 19's `untestable` cells: the p95's testability decided per poll (before) or once per step.

``python -m bench.judge.untestable --runs 1000`` writes docs/judge-benchmark-untestable.md.

Both rules run the workflow's own code on every poll: ``workflows.judge.judge`` as new rollouts use it (the
whole-rollout judge with issue 19's robust rules), then the analysis' rule for untestable criteria
(``analysis.analyse`` and ``settle_testability``): before, ``untestable_in_totals`` on the step's point estimate
plus the judge's untestable verdicts; since ``untestable-once``, ``untestable_decided`` on the step's one decision
and ``refusals`` with ``accept_untestable_ratio_max`` at its default. The check before traffic moves
(``check_testability``) runs first on stable's lifetime counters, under the same rule.

Cells:

* ``drift-edge``: the stand's bucket layout (``simulator/buckets.py``: 7.5 % bounds up to 3,877 ms, then 5,000 and
  7,500 ms). Stable's and the candidate's p95 are equal (a healthy candidate) and drift +-5 % around the 3,877 ms
  edge with the daily cycle (random phase): below it the p95 lies in a 1.075x bucket, above it in a 1.29x one,
  so the default 1.1x limit is testable on one side only. 24 h of stable's history (the lifetime counters), then
  one 12 h step at a 5 % canary of 100 req/s, polled every 5 minutes; nothing accepted as untestable. Any
  ``untestable`` rollback is a healthy candidate rolled back because of a bucket edge.
* ``p95-1.5x-coarse-accepted``: the main table's ``p95-1.5x-coarse`` traffic (power-of-two buckets, candidate p95
  1.5x from the start, 48 h at a 1 % canary) with ``latency_p95`` in ``accept_untestable``. A promotion (the step
  passing: every criterion passed or accepted as untestable) promotes a 1.5x p95 regression the buckets cannot see.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from bench.judge.runner import run_seed
from bench.judge.scenarios import POLL_MINUTES, Scenario
from bench.judge.stats import clopper_pearson
from bench.judge.traffic import POLLS, baseline, simulate
from models.counters import Counters
from models.criteria import DEFAULT_UNTESTABLE_RATIO_MAX, Criteria, RollbackTriggers
from models.verdicts import CriterionName
from simulator.buckets import LATENCY_BOUNDS_MS
from workflows.judge import Judgement, JudgeState, judge, new_judge_state
from workflows.judge.models import LatencyTestability
from workflows.judge.testability import (
    MIN_READING_REQUESTS,
    decide_latency,
    lifetime_totals,
    refusals,
    untestable_at_start,
    untestable_decided,
    untestable_in_totals,
)
from workflows.judge.whole_rollout import ALPHA_SHARES

CRITERIA = Criteria()
TRIGGERS = RollbackTriggers()
DEFAULT_OUTPUT = Path("docs/judge-benchmark-untestable.md")
SEED_OFFSET = 9_000
"""Cell indices for ``run_seed`` start here, so these runs draw other numbers than the other tables' cells."""

EDGE_MS = max(bound for bound in LATENCY_BOUNDS_MS if bound < 4000.0)
"""The stand's last 7.5 % bound (3,877 ms); the next bound is 5,000 ms."""
DRIFT = 0.05
"""The p95 moves +-5 % around the edge with the daily cycle."""
P50_SHARE = 0.4
"""Median latency as a share of the p95 (lognormal)."""
EDGE_RPS, EDGE_CANARY, EDGE_STEP_POLLS, HISTORY_MINUTES = 100.0, 0.05, 144, 24 * 60
_Z95 = 1.6448536269514722


@dataclass(frozen=True)
class Outcome:
    """How one run ended under one rule."""

    untestable: bool = False
    """Ended by an ``untestable`` rollback (before traffic moved, or at an analysis)."""
    at_start: bool = False
    """That rollback came before traffic moved (``check_testability`` on stable's lifetime counters)."""
    rollback: bool = False
    """Ended by any other rollback."""
    promoted: bool = False
    """The step passed (every criterion passed or was accepted as untestable)."""
    decided_testable: bool | None = None
    """The step's decision (once-per-step rule only; None: not made, or the per-poll rule)."""


def drifting_p95(minutes: np.ndarray, phase: float) -> np.ndarray:
    """The p95 (ms) at each minute: the edge, +-DRIFT with the daily cycle."""
    return EDGE_MS * (1.0 + DRIFT * np.sin(2.0 * math.pi * minutes / 1440.0 + phase))


def _probabilities(p95: np.ndarray) -> np.ndarray:
    """Per row, P(latency in bucket) on the stand's layout for a lognormal with that p95 (median P50_SHARE of it)."""
    sigma = -math.log(P50_SHARE) / _Z95
    log_bounds = np.log(np.asarray(LATENCY_BOUNDS_MS[:-1]))
    z = (log_bounds[None, :] - np.log(p95 * P50_SHARE)[:, None]) / sigma
    cdf = 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))
    cdf = np.minimum(np.maximum.accumulate(cdf, axis=1), 1.0)
    return np.diff(cdf, axis=1, prepend=0.0, append=np.ones((p95.size, 1)))


def _reading(requests: int, errors: int, cumulative: list[int], quality: tuple[float, float]) -> Counters:
    return Counters.model_construct(
        requests=requests,
        errors=errors,
        latency_ms_buckets=list(zip(LATENCY_BOUNDS_MS, cumulative, strict=True)),
        quality_sum=quality[0],
        quality_sum_squares=min(quality[1], quality[0]),
        quality_count=requests,
    )


def _edge_readings(seed: int) -> tuple[Counters, list[tuple[Counters, Counters]]]:
    """Stable's lifetime counters before the step, then each poll's raw (stable, candidate) counters."""
    rng = np.random.Generator(np.random.PCG64(seed))
    phase = rng.uniform(0.0, 2.0 * math.pi)
    history = np.arange(0, HISTORY_MINUTES, POLL_MINUTES)
    past_probs = _probabilities(drifting_p95(history, phase)).mean(axis=0)
    past_n = int(rng.poisson(EDGE_RPS * 60 * HISTORY_MINUTES))
    past = np.cumsum(rng.multinomial(past_n, past_probs)).tolist()
    past_errors = int(rng.binomial(past_n, 0.01))
    totals = [past_n, 0]
    errors = [past_errors, 0]
    quality = [(0.8 * past_n, past_n * (0.0225 + 0.64)), (0.0, 0.0)]
    buckets = [past, [0] * len(LATENCY_BOUNDS_MS)]
    lifetime = _reading(past_n, past_errors, past, quality[0])
    minutes = HISTORY_MINUTES + POLL_MINUTES * np.arange(1, EDGE_STEP_POLLS + 1)
    probs = _probabilities(drifting_p95(minutes, phase))
    polls: list[tuple[Counters, Counters]] = []
    for row in range(EDGE_STEP_POLLS):
        n = int(rng.poisson(EDGE_RPS * 60 * POLL_MINUTES))
        candidate_n = int(rng.binomial(n, EDGE_CANARY))
        readings = []
        for arm, arm_n in enumerate((n - candidate_n, candidate_n)):
            totals[arm] += arm_n
            errors[arm] += int(rng.binomial(arm_n, 0.01))
            mean = float(np.clip(rng.normal(0.8, 0.15 / math.sqrt(max(arm_n, 1))), 0.0, 1.0))
            quality[arm] = (quality[arm][0] + mean * arm_n, quality[arm][1] + arm_n * (0.0225 + mean * mean))
            step = np.cumsum(rng.multinomial(arm_n, probs[row]))
            buckets[arm] = [a + int(b) for a, b in zip(buckets[arm], step, strict=True)]
            readings.append(_reading(totals[arm], errors[arm], buckets[arm], quality[arm]))
        polls.append((readings[0], readings[1]))
    return lifetime, polls


def _found(result: Judgement, once: bool) -> tuple[dict[CriterionName, str], LatencyTestability | None]:
    """The analysis' untestable criteria after a poll (``analysis.analyse``), under either rule."""
    state = result.state
    decided = state.latency_testability if once else None
    if once:
        found = untestable_decided(state.stable, state.candidate, CRITERIA, decided)
    else:
        found = untestable_in_totals(state.stable, state.candidate, CRITERIA)
    found.update({c.name: c.note for c in result.criteria if c.verdict == "untestable"})
    return found, decided


def _refused(
    found: dict[CriterionName, str], accepted: Collection[str], once: bool, decided: LatencyTestability | None
) -> bool:
    ratio_max = DEFAULT_UNTESTABLE_RATIO_MAX if once else None
    return bool(refusals(found, accepted, ratio_max, decided))


def _start_refused(lifetime: Counters, accepted: Collection[str], once: bool) -> bool:
    """``check_testability`` on stable's lifetime counters, before traffic moves."""
    if not once:
        return bool({name for name in untestable_at_start(lifetime, CRITERIA) if name not in accepted})
    totals = lifetime_totals(lifetime)
    decided = None
    if totals.latency_total >= MIN_READING_REQUESTS:
        alpha = CRITERIA.alpha * ALPHA_SHARES["latency_p95"]
        decided = decide_latency(totals, CRITERIA.latency_p95_ratio_max, alpha)
    found = untestable_decided(totals, lifetime_totals(Counters(requests=0, errors=0)), CRITERIA, decided)
    return _refused(found, accepted, once, decided)


def _judge_step(
    state: JudgeState, polls: list[tuple[Counters, Counters]], accepted: Collection[str], once: bool
) -> Outcome:
    for stable, candidate in polls:
        result = judge(state, stable=stable, candidate=candidate, criteria=CRITERIA, triggers=TRIGGERS, evidence=False)
        state = result.state
        found, decided = _found(result, once)
        if _refused(found, accepted, once, decided):
            return Outcome(untestable=True, decided_testable=decided.testable if decided else None)
        if result.decision == "rollback":
            return Outcome(rollback=True, decided_testable=decided.testable if decided else None)
        passing = all(c.verdict == "pass" or c.name in found for c in result.criteria) and not any(
            t.breached for t in result.triggers
        )
        if passing:
            return Outcome(promoted=True, decided_testable=decided.testable if decided else None)
    decided = state.latency_testability
    return Outcome(decided_testable=decided.testable if decided else None)


def _new_state(first: tuple[Counters, Counters], once: bool, *, horizon: int, share: float) -> JudgeState:
    return new_judge_state(
        first[0],
        first[1],
        method="sequential",
        whole_rollout=True,
        robust=True,
        alpha_share=share,
        horizon_polls=horizon,
        testability_once=once,
    )


_ZERO = Counters.model_construct(
    requests=0, errors=0, latency_ms_buckets=[(b, 0) for b in LATENCY_BOUNDS_MS], quality_count=0
)


def drift_edge(seed: int, once: bool, *, fresh: bool = False) -> Outcome:
    """One run of the drifting-edge cell under one rule; ``fresh``: no check before traffic moves."""
    lifetime, polls = _edge_readings(seed)
    if not fresh and _start_refused(lifetime, (), once):
        return Outcome(untestable=True, at_start=True)
    # The step counts from the reading at its start (stable's lifetime counters); the candidate starts from zero.
    state = _new_state((lifetime, _ZERO), once, horizon=4 * EDGE_STEP_POLLS, share=0.25)
    return _judge_step(state, polls, (), once)


def drift_edge_fresh(seed: int, once: bool) -> Outcome:
    """The drifting-edge cell without the check before traffic moves (its metrics unreadable then, say): the
    analyses alone decide, which isolates the per-poll flip."""
    return drift_edge(seed, once, fresh=True)


COARSE = Scenario(
    "p95-1.5x-coarse", "regression", "p95 x1.5, power-of-2 buckets", latency_scale=1.5, coarse_buckets=True
)


def coarse_accepted(seed: int, once: bool) -> Outcome:
    """One run of the accepted-untestable cell under one rule."""
    run = simulate(COARSE, seed)
    state = _new_state(baseline(COARSE), once, horizon=POLLS, share=1.0)
    return _judge_step(state, [run.reading(poll) for poll in range(POLLS)], ("latency_p95",), once)


CELLS = {"drift-edge": drift_edge, "drift-edge-fresh": drift_edge_fresh, "p95-1.5x-coarse-accepted": coarse_accepted}


def _job(args: tuple[str, int, int, bool]) -> tuple[str, bool, Outcome]:
    name, base_seed, run, once = args
    seed = run_seed(base_seed, SEED_OFFSET + list(CELLS).index(name), run)
    return name, once, CELLS[name](seed, once)


def _rate(count: int, runs: int) -> str:
    low, high = clopper_pearson(count, runs)
    return f"{count}/{runs} ({count / runs:.1%}; 95 % CI {low:.1%}-{high:.1%})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    cells = [c for c in args.cells.split(",") if c]
    jobs = [(name, args.seed, run, once) for name in cells for once in (False, True) for run in range(args.runs)]
    started = time.monotonic()
    with Pool(args.workers) as pool:
        results = pool.map(_job, jobs, chunksize=20)
    elapsed = time.monotonic() - started
    lines = [
        "# Judge benchmark: `untestable` decided per poll, or once per step (issue 19)",
        "",
        "Generated by:",
        "",
        "```",
        f"python -m bench.judge.untestable --runs {args.runs} --seed {args.seed} --workers {args.workers} "
        f"--cells {','.join(cells)} --output {args.output}",
        "```",
        "",
        f"{len(jobs)} runs in {elapsed:.0f} s on {os.cpu_count()} cores (load {os.getloadavg()[0]:.1f} at the end). "
        "Rates carry 95 % Clopper-Pearson intervals. The cells and both rules are described in "
        "`bench/judge/untestable.py`; ADR 36 explains the rule.",
        "",
        "| cell | rule | untestable rollbacks | of them before traffic moved | other rollbacks | promoted | "
        "decided testable |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in cells:
        for once in (False, True):
            outcomes = [o for n, r, o in results if n == name and r == once]
            runs = len(outcomes)
            decided = sum(1 for o in outcomes if o.decided_testable)
            lines.append(
                f"| {name} | {'once per step' if once else 'per poll (before)'} | "
                f"{_rate(sum(o.untestable for o in outcomes), runs)} | "
                f"{sum(o.at_start for o in outcomes)} | "
                f"{_rate(sum(o.rollback for o in outcomes), runs)} | "
                f"{_rate(sum(o.promoted for o in outcomes), runs)} | "
                f"{f'{decided}/{runs}' if once else '-'} |"
            )
    lines += [
        "",
        "`drift-edge`: a healthy candidate, so every rollback is a false one; 'promoted' is the step passing. "
        "`p95-1.5x-coarse-accepted`: a 1.5x p95 regression on power-of-two buckets with `latency_p95` accepted as "
        f"untestable; once per step, the 2x buckets exceed `accept_untestable_ratio_max` "
        f"({DEFAULT_UNTESTABLE_RATIO_MAX:g}, the default), so the acceptance is refused (an `untestable` rollback) "
        "instead of promoting the regression.",
        "",
    ]
    args.output.write_text("\n".join(lines))
    sys.stdout.write("\n".join(lines))


if __name__ == "__main__":
    main()
