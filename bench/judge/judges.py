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

The two naive judges are vectorised over every poll of the run (numpy); they see the step's true increments
as the scrapes deliver them, which is what the workflow's counter handling reconstructs from raw counters.
Only the sequential judge reads raw counters poll by poll, and stops once a criterion has failed.
"""

from __future__ import annotations

import numpy as np

from bench.judge.kayenta import MetricSeries
from bench.judge.scenarios import HOURS, MINUTES, POLL_MINUTES, Scenario
from bench.judge.traffic import POLLS, BoolArray, FloatArray, IntArray, Run, baseline, simulate
from models.counters import Counters
from models.criteria import Criteria, RollbackTriggers
from workflows.judge import JudgeMethod, JudgeState, judge, new_judge_state

JUDGES = (
    "window",
    "cumulative",
    "kayenta",
    "sequential",
    "sequential-criteria",
    "whole-rollout",
    "evidence",
    "detection",
)
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


class WorkflowJudge:
    """``workflows.judge`` as the workflow calls it; remembers the first rollback, criterion fail and pass.

    ``whole``: the whole-rollout judge (runs under the ``judge-whole-rollout`` patch): a new step carries the
    error-rate test on, each step spends 1 / steps of the latency and quality budgets, and the late-onset
    detector may restart at every poll of the 48 h. Without it, every step starts afresh (the per-step judge).
    """

    def __init__(
        self,
        method: JudgeMethod,
        first: tuple[Counters, Counters],
        *,
        whole: bool,
        steps: int,
        robust: bool = False,
        detection: bool = False,
    ) -> None:
        self.method, self.whole, self.steps, self.robust = method, whole, max(1, steps), robust
        self.detection = detection
        self.state = self._new_state(first, None)
        self.rollback: int | None = None
        self.criterion_fail: int | None = None
        self.passed: int | None = None
        self.untestable = False

    def _new_state(self, reading: tuple[Counters, Counters], carried: JudgeState | None) -> JudgeState:
        return new_judge_state(
            reading[0],
            reading[1],
            method=self.method,
            whole_rollout=self.whole,
            alpha_share=1.0 / self.steps if self.whole else 1.0,
            horizon_polls=POLLS if self.whole else 0,
            carried=carried,
            robust=self.robust,
            detection=self.detection,
        )

    def new_step(self, reading: tuple[Counters, Counters]) -> None:
        """A new canary step starts with ``reading`` as its baseline."""
        self.state = self._new_state(reading, self.state)

    def poll(self, minute: int, reading: tuple[Counters, Counters]) -> None:
        judgement = judge(
            self.state, stable=reading[0], candidate=reading[1], criteria=CRITERIA, triggers=TRIGGERS, evidence=False
        )
        self.state = judgement.state
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
    def done(self) -> bool:
        return self.criterion_fail is not None or (self.whole and self.rollback is not None)


Result = tuple[int | None, int, int | None, bool]
"""Per judge: rollback minute (or None), candidate errors served from the onset until then (or the end), the
first minute every criterion passed or was untestable (or None), and whether a criterion said untestable."""


def _run_workflow_judge(
    run: Run, scenario: Scenario, *, whole: bool, robust: bool = False, detection: bool = False
) -> WorkflowJudge:
    steps = len(scenario.steps) or 1
    judge_ = WorkflowJudge(
        "sequential", baseline(scenario), whole=whole, steps=steps, robust=robust, detection=detection
    )
    step_polls = POLLS // steps
    previous = baseline(scenario)
    for poll in range(POLLS):
        if poll and poll % step_polls == 0:
            judge_.new_step(previous)
        previous = run.reading(poll)
        judge_.poll(run.poll_minute(poll), previous)
        if judge_.done:
            break
    return judge_


def run_all(scenario: Scenario, seed: int, judges: tuple[str, ...] = JUDGES) -> dict[str, Result]:
    """The outcome of each of ``judges`` on one drawn run of the cell (the naive ones always: they cost little)."""
    run = simulate(scenario, seed)
    outcomes: dict[str, tuple[int | None, int | None, bool]] = {
        "window": (window(run), None, False),
        "cumulative": (cumulative(run), None, False),
        "kayenta": (kayenta(run), None, False),
    }
    if "sequential" in judges or "sequential-criteria" in judges:
        sequential = _run_workflow_judge(run, scenario, whole=False)
        outcomes["sequential"] = (sequential.rollback, sequential.passed, sequential.untestable)
        outcomes["sequential-criteria"] = (sequential.criterion_fail, sequential.passed, sequential.untestable)
    if "whole-rollout" in judges:
        whole = _run_workflow_judge(run, scenario, whole=True)
        outcomes["whole-rollout"] = (whole.rollback, whole.passed, whole.untestable)
    if "evidence" in judges:
        robust = _run_workflow_judge(run, scenario, whole=True, robust=True)
        outcomes["evidence"] = (robust.rollback, robust.passed, robust.untestable)
    if "detection" in judges:
        second = _run_workflow_judge(run, scenario, whole=True, robust=True, detection=True)
        outcomes["detection"] = (second.rollback, second.passed, second.untestable)
    served = run.candidate_errors()
    onset = int(served[min(scenario.onset_minute, MINUTES)])
    return {
        name: (minute, max(0, int(served[MINUTES if minute is None else minute]) - onset), passed, untestable)
        for name, (minute, passed, untestable) in outcomes.items()
    }
