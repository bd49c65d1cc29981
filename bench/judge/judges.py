"""The judges under comparison, all on the same drawn run; each gives its first rollback minute (or None).

* ``window``: the common alert rule, on each poll's 5-minute increments alone: candidate error rate > 2x
  stable's, or interpolated p95 > 1.5x stable's, or mean quality more than 0.02 below stable's.
* ``cumulative``: the naive judge checking the pre-registered limits (``Criteria``) on the step's cumulative
  data at every poll: once the candidate has ``min_requests`` requests, error-rate ratio, interpolated p95
  ratio and quality difference as point estimates, with the edge cases of ``workflows/judge/threshold.py``
  (the workflow's v1 method) but without its hard triggers.
* ``kayenta``: ``kayenta.py``, hourly on the growing window of per-minute points since the step started.
* ``sequential``: ``workflows.judge`` with ``method="sequential"``, hard triggers included (as shipped), and
  ``sequential-criteria``: the same judgements with the hard triggers ignored, to show what each part costs.
* ``whole-rollout``: ``workflows.judge`` as runs under the ``judge-whole-rollout`` patch call it (ADR 13), hard
  triggers included: evidence on errors carried across steps, a late-onset detector, dispersion-aware.
* ``evidence``: the whole-rollout judge with issue 19's changes (``robust``, the ``judge-evidence`` patch): an
  upper confidence bound on the dispersion under a 30 % wobble ceiling, capped evidence per poll, passes
  earned per step, the hard error trigger and the margin's ratio cap inside the error test's alpha.
* ``detection``: issue 19's second judge (``JudgeState.detection``, the ``judge-evidence-2`` patch): the evidence
  judge with the kappa bound's margin scaled to the information per poll and the dispersion measured against the
  recent polls' ratio.
* ``evidence-3``: issue 19's third judge (``JudgeState.third``, the ``judge-evidence-3`` patch, ADR 47): the second
  with kappa's score bound, the fail side's tilt at a higher bound, late-onset restarts weighted toward the planned
  polls, and the absolute margin's pass only where the ratio does not bind.

The two naive judges are vectorised over every poll of the run (numpy); they see the step's true increments
as the scrapes deliver them, which is what the workflow's counter handling reconstructs from raw counters.
Only the sequential judge reads raw counters poll by poll, and stops once a criterion has failed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from bench.judge.kayenta import MetricSeries
from bench.judge.scenarios import HOURS, MINUTES, POLL_MINUTES, Scenario
from bench.judge.traffic import POLLS, BoolArray, FloatArray, IntArray, Run, baseline, simulate
from models.counters import Counters
from models.criteria import Criteria, RollbackTriggers
from workflows.judge import Judgement, JudgeMethod, JudgeState, judge, new_judge_state

CRITERIA = Criteria()
TRIGGERS = RollbackTriggers()
WINDOW_ERROR_RATIO = 2.0
WINDOW_P95_RATIO = 1.5


def interpolated_p95(buckets: IntArray, bounds: tuple[float, ...]) -> tuple[FloatArray, BoolArray]:
    """(p95, beyond the last finite bound) of histograms whose last axis holds cumulative bucket counts.

    ``workflows.judge.histogram.interpolated_quantile`` on every histogram at once, for layouts ending with
    +Inf (the total is the last count); NaN without observations.
    """
    total = buckets[..., -1]
    rank = 0.95 * total
    index = np.argmax(buckets >= rank[..., None], axis=-1)[..., None]
    count = np.take_along_axis(buckets, index, axis=-1)[..., 0]
    previous_count = np.where(index[..., 0] > 0, np.take_along_axis(buckets, np.maximum(index - 1, 0), -1)[..., 0], 0)
    upper_bounds = np.asarray(bounds)
    lower_bounds = np.concatenate(([0.0], upper_bounds[:-1]))
    upper, lower = upper_bounds[index[..., 0]], lower_bounds[index[..., 0]]
    beyond = np.isinf(upper)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = lower + (upper - lower) * (rank - previous_count) / (count - previous_count)
    value = np.where(beyond, lower, value)
    return np.where(total > 0, value, np.nan), beyond


def _first_minute(breached: BoolArray) -> int | None:
    """The minute of the first poll where ``breached`` holds."""
    polls = np.flatnonzero(breached)
    return int(polls[0] + 1) * POLL_MINUTES if polls.size else None


def window(run: Run) -> int | None:
    """The 5-minute alert rule: first poll whose own increments breach any of its three limits."""
    step = run.seen().increments()
    stable_n, candidate_n = step.requests
    stable_e, candidate_e = step.errors
    stable_q, candidate_q = step.quality_sum
    stable_p95, candidate_p95 = interpolated_p95(step.buckets, run.bounds)[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        errors = (candidate_e > 0) & (candidate_e / candidate_n > WINDOW_ERROR_RATIO * stable_e / stable_n)
        latency = (stable_p95 > 0) & (candidate_p95 > WINDOW_P95_RATIO * stable_p95)
        quality = candidate_q / candidate_n - stable_q / stable_n < -CRITERIA.quality_drop_max
    return _first_minute((stable_n > 0) & (candidate_n > 0) & (errors | latency | quality))


def cumulative(run: Run, criteria: Criteria = CRITERIA) -> int | None:
    """The pre-registered limits on the step's cumulative point estimates, checked at every poll.

    Mirrors ``threshold_criteria``: inconclusive until the candidate has ``min_requests`` requests and stable
    has traffic; an error ratio with no stable errors is 1 without candidate errors and infinite with some;
    no p95 ratio when both p95s lie beyond the last finite bound; a 0 ms stable p95 gives 1 or infinity.
    """
    totals = run.seen()
    stable_n, candidate_n = totals.requests
    stable_e, candidate_e = totals.errors
    stable_q, candidate_q = totals.quality_sum
    (stable_p95, candidate_p95), (stable_beyond, candidate_beyond) = interpolated_p95(totals.buckets, run.bounds)
    armed = (candidate_n >= criteria.min_requests) & (stable_n > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        stable_rate, candidate_rate = stable_e / stable_n, candidate_e / candidate_n
        error_ratio = np.where(
            stable_rate == 0.0, np.where(candidate_rate == 0.0, 1.0, np.inf), candidate_rate / stable_rate
        )
        p95_ratio = np.where(stable_p95 <= 0.0, np.where(candidate_p95 <= 0.0, 1.0, np.inf), candidate_p95 / stable_p95)
        difference = candidate_q / candidate_n - stable_q / stable_n
    latency = ~(stable_beyond & candidate_beyond) & (p95_ratio > criteria.latency_p95_ratio_max)
    breached = (error_ratio > criteria.error_rate_ratio_max) | latency | (difference < -criteria.quality_drop_max)
    return _first_minute(armed & breached)


def kayenta(run: Run) -> int | None:
    """Hourly analyses on the growing window of per-minute points: the first hour that fails the canary."""
    series = (MetricSeries("increase"), MetricSeries("increase"), MetricSeries("decrease"))
    hourly = []  # per metric and version: the points with data, and where each hour's points end
    for metric in run.points():
        present = ~np.isnan(metric)
        ends = np.cumsum(present.reshape(2, HOURS, 60).sum(axis=2), axis=1)
        hourly.append([(metric[arm][present[arm]].tolist(), [0, *ends[arm].tolist()]) for arm in (0, 1)])
    for hour in range(HOURS):
        for analysis, ((control, control_ends), (experiment, experiment_ends)) in zip(series, hourly, strict=True):
            analysis.extend(
                control[control_ends[hour] : control_ends[hour + 1]],
                experiment[experiment_ends[hour] : experiment_ends[hour + 1]],
            )
        if any(analysis.fails() for analysis in series):
            return (hour + 1) * 60
    return None


HORIZON_POLLS = 2 * POLLS + 1
"""The late-onset detector's horizon, as production sets it for these 48 h of 5-minute polls:
``workflows.rollout.analysis.horizon_polls`` gives ``HORIZON_SLACK`` (2) x the observed polls + 1 = 1,153 for the
default rollout (a test checks the two agree). The benchmark used the 576 polls themselves before issue 19."""


class WorkflowJudge:
    """``workflows.judge`` as the workflow calls it; remembers the first rollback, criterion fail and pass.

    ``whole``: the whole-rollout judge (runs under the ``judge-whole-rollout`` patch): a new step carries the
    error-rate test on, each step spends 1 / steps of the latency and quality budgets, and the late-onset
    detector may restart at every poll of the rollout's horizon. Without it, every step starts afresh (the
    per-step judge). ``options`` go to ``new_judge_state`` as they are (``robust=True``: issue 19's judge), so a
    judge under a new patch is one more entry in ``WORKFLOW_JUDGES``. ``criteria_only``: report the first
    criterion ``fail`` as the rollback, ignoring the hard triggers.
    """

    def __init__(
        self,
        first: tuple[Counters, Counters],
        *,
        steps: int,
        whole: bool,
        method: JudgeMethod = "sequential",
        criteria_only: bool = False,
        **options: Any,
    ) -> None:
        self.method, self.whole, self.steps, self.options = method, whole, max(1, steps), options
        self.criteria_only = criteria_only
        self.state = self._new_state(first, None)
        self.rollback: int | None = None
        self.criterion_fail: int | None = None
        self.passed: int | None = None
        self.untestable = False
        self.judgement: Judgement | None = None
        """The last poll's judgement (``bench/judge/fast/check.py`` compares it with the fast judge's)."""

    def _new_state(self, reading: tuple[Counters, Counters], carried: JudgeState | None) -> JudgeState:
        return new_judge_state(
            reading[0],
            reading[1],
            method=self.method,
            whole_rollout=self.whole,
            alpha_share=1.0 / self.steps if self.whole else 1.0,
            horizon_polls=HORIZON_POLLS if self.whole else 0,
            carried=carried,
            **self.options,
        )

    def new_step(self, reading: tuple[Counters, Counters]) -> None:
        """A new canary step starts with ``reading`` as its baseline."""
        self.state = self._new_state(reading, self.state)

    def poll(self, minute: int, reading: tuple[Counters, Counters]) -> None:
        judgement = judge(
            self.state, stable=reading[0], candidate=reading[1], criteria=CRITERIA, triggers=TRIGGERS, evidence=False
        )
        self.state, self.judgement = judgement.state, judgement
        if self.rollback is None and judgement.decision == "rollback":
            self.rollback = minute
        if self.criterion_fail is None and any(result.verdict == "fail" for result in judgement.criteria):
            self.criterion_fail = minute
        if any(result.verdict == "untestable" for result in judgement.criteria):
            self.untestable = True
        passing = judgement.decision != "rollback" and all(
            result.verdict in ("pass", "untestable") for result in judgement.criteria
        )
        if self.passed is None and self.rollback is None and passing:
            self.passed = minute

    @property
    def reported_rollback(self) -> int | None:
        """The minute this judge is scored on: its first rollback, or its first criterion fail if criteria only."""
        return self.criterion_fail if self.criteria_only else self.rollback

    @property
    def done(self) -> bool:
        return self.criterion_fail is not None or (self.whole and self.rollback is not None)


JudgeFactory = Callable[[tuple[Counters, Counters], int], WorkflowJudge]
"""A workflow judge for one run: (the step's baseline reading, the number of steps) -> a fresh judge."""

WORKFLOW_JUDGES: dict[str, JudgeFactory] = {
    "whole-rollout": lambda first, steps: WorkflowJudge(first, steps=steps, whole=True),
    "evidence": lambda first, steps: WorkflowJudge(first, steps=steps, whole=True, robust=True),
    "detection": lambda first, steps: WorkflowJudge(first, steps=steps, whole=True, robust=True, detection=True),
    "evidence-3": lambda first, steps: WorkflowJudge(
        first, steps=steps, whole=True, robust=True, detection=True, third=True
    ),
    "sequential": lambda first, steps: WorkflowJudge(first, steps=steps, whole=False),
    "sequential-criteria": lambda first, steps: WorkflowJudge(first, steps=steps, whole=False, criteria_only=True),
}
"""The workflow's judges by name. Add one entry for a judge under a new patch; ``--judges`` picks them."""

BASELINES = ("window", "cumulative", "kayenta")
"""The naive judges and Kayenta: vectorised over a run (a few ms), so every run computes them."""
DEFAULT_JUDGES = ("detection", "evidence-3")
"""The workflow judges a default run compares: issue 19's second judge and its third, which new rollouts get
(ADR 13's, the first evidence judge and the per-step ones on request)."""
JUDGES = (*BASELINES, *WORKFLOW_JUDGES)


class Result(NamedTuple):
    """One judge on one drawn run."""

    rollback: int | None
    """Rollback minute, or None."""
    errors: int
    """Candidate errors served from the onset until the rollback (or the end)."""
    passed: int | None
    """The first minute every criterion passed or was untestable, or None."""
    untestable: bool
    """Whether a criterion said untestable."""
    totals_error: float = 0.0
    """Workflow judges: the worst relative error of the step totals the judge kept (requests and errors, either
    version, at every step's end) against the traffic served; 0 for the baselines."""


def _step_error(run: Run, judge_: WorkflowJudge, start_poll: int, poll: int) -> float:
    """Worst relative error of the judge's step totals after ``poll`` against what was served since the step began."""
    end = int(run.scraped[poll])
    begin = int(run.scraped[start_poll - 1]) if start_poll else 0
    worst = 0.0
    for arm, kept in enumerate((judge_.state.stable, judge_.state.candidate)):
        for truth, measured in (
            (run.totals.requests[arm], kept.requests),
            (run.totals.errors[arm], kept.errors),
        ):
            served = int(truth[end] - truth[begin])
            worst = max(worst, abs(measured - served) / max(served, 1))
    return worst


def _run_workflow_judge(run: Run, scenario: Scenario, factory: JudgeFactory) -> tuple[WorkflowJudge, float]:
    """A workflow judge over the run's polls (until it is done); also the worst step-totals error it kept."""
    steps = len(scenario.steps) or 1
    judge_ = factory(baseline(scenario), steps)
    step_polls = POLLS // steps
    previous = baseline(scenario)
    readings = run.readings
    worst, start = 0.0, 0
    for poll in range(POLLS):
        if poll and poll % step_polls == 0:
            worst = max(worst, _step_error(run, judge_, start, poll - 1))
            judge_.new_step(previous)
            start = poll
        previous = readings[poll]
        judge_.poll(run.poll_minute(poll), previous)
        if judge_.done:
            break
    return judge_, max(worst, _step_error(run, judge_, start, poll))


def run_all(
    scenario: Scenario, seed: int, judges: tuple[str, ...] = DEFAULT_JUDGES, *, fast: bool = False
) -> dict[str, Result]:
    """The outcome of the baselines and of each workflow judge in ``judges`` on one drawn run of the cell.

    ``fast``: the judges ``bench/judge/fast/`` covers run there (numba, checked identical by its ``check.py``),
    the others through ``workflows.judge`` as always.
    """
    fast_judges: dict[str, bool] = {}
    if fast:
        from bench.judge.fast import run as fast_run  # numba loads only for the fast path

        fast_judges = fast_run.FAST_JUDGES
    run = simulate(scenario, seed)
    outcomes: dict[str, tuple[int | None, int | None, bool, float]] = {
        "window": (window(run), None, False, 0.0),
        "cumulative": (cumulative(run), None, False, 0.0),
        "kayenta": (kayenta(run), None, False, 0.0),
    }
    for name in judges:
        if name in BASELINES:
            continue
        if name in fast_judges:
            outcomes[name] = fast_run.outcome(run, scenario, name)
            continue
        workflow_judge, totals_error = _run_workflow_judge(run, scenario, WORKFLOW_JUDGES[name])
        outcomes[name] = (
            workflow_judge.reported_rollback,
            workflow_judge.passed,
            workflow_judge.untestable,
            totals_error,
        )
    served = run.candidate_errors()
    onset = int(served[min(scenario.onset_minute, MINUTES)])
    return {
        name: Result(
            minute,
            max(0, int(served[MINUTES if minute is None else minute]) - onset),
            passed,
            untestable,
            totals_error,
        )
        for name, (minute, passed, untestable, totals_error) in outcomes.items()
    }
