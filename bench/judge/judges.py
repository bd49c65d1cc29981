"""The judges under comparison, fed the same simulated traffic minute by minute until each rolls back.

* ``window``: the common alert rule, on each 5-minute window alone: candidate error rate > 2x stable's, or
  p95 > 1.5x stable's, or mean quality more than 0.02 below stable's.
* ``threshold``: ``workflows.judge`` with ``method="threshold"`` (pre-registered limits on the step's
  cumulative data, hard triggers included), checked at every poll: version 1 of the workflow.
* ``kayenta``: ``kayenta.py``, hourly on the growing window since the step started.
* ``sequential``: ``workflows.judge`` with ``method="sequential"``, hard triggers included (as shipped), and
  ``sequential-criteria``: the same judgements with the hard triggers ignored, to show what each part costs.

A run stops as soon as every judge has rolled back, so cells with quick detections simulate less.
"""

from __future__ import annotations

from bench.judge.kayenta import MetricSeries
from bench.judge.scenarios import Scenario
from bench.judge.traffic import Minute, baseline, simulate
from workflows.counters import Counters
from workflows.criteria import Criteria, RollbackTriggers
from workflows.judge import JudgeMethod, judge, new_judge_state
from workflows.judge.histogram import interpolated_quantile
from workflows.judge.increments import increment

JUDGES = ("window", "threshold", "kayenta", "sequential", "sequential-criteria")
CRITERIA = Criteria()
TRIGGERS = RollbackTriggers()


class WindowRule:
    """Alert-style rule on each poll's increments alone."""

    def __init__(self, first: tuple[Counters, Counters]) -> None:
        self.previous = first

    def poll(self, reading: tuple[Counters, Counters]) -> bool:
        stable = increment(self.previous[0], reading[0])
        candidate = increment(self.previous[1], reading[1])
        self.previous = reading
        if stable.requests <= 0 or candidate.requests <= 0:
            return False
        if candidate.errors > 0 and candidate.errors / candidate.requests > 2.0 * stable.errors / stable.requests:
            return True
        if stable.latency_bounds and candidate.latency_bounds:
            stable_q = interpolated_quantile(
                list(stable.latency_bounds), list(stable.latency_counts), stable.latency_total, 0.95
            )
            candidate_q = interpolated_quantile(
                list(candidate.latency_bounds), list(candidate.latency_counts), candidate.latency_total, 0.95
            )
            if stable_q and candidate_q and stable_q.value > 0 and candidate_q.value > 1.5 * stable_q.value:
                return True
        if stable.quality_count and candidate.quality_count:
            difference = candidate.quality_sum / candidate.quality_count - stable.quality_sum / stable.quality_count
            return difference < -CRITERIA.quality_drop_max
        return False


class WorkflowJudge:
    """``workflows.judge`` as the workflow calls it; remembers the first rollback and first criterion fail."""

    def __init__(self, method: JudgeMethod, first: tuple[Counters, Counters]) -> None:
        self.state = new_judge_state(first[0], first[1], method=method)
        self.rollback: int | None = None
        self.criterion_fail: int | None = None

    def poll(self, minute: int, reading: tuple[Counters, Counters]) -> None:
        judgement = judge(self.state, stable=reading[0], candidate=reading[1], criteria=CRITERIA, triggers=TRIGGERS)
        self.state = judgement.state
        if self.rollback is None and judgement.decision == "rollback":
            self.rollback = minute
        if self.criterion_fail is None and any(result.verdict == "fail" for result in judgement.criteria):
            self.criterion_fail = minute

    @property
    def done(self) -> bool:
        return self.criterion_fail is not None


class KayentaJudge:
    """Hourly analyses on the growing window of per-minute points."""

    def __init__(self) -> None:
        self.series = (MetricSeries("increase"), MetricSeries("increase"), MetricSeries("decrease"))

    def minute(self, data: Minute) -> bool:
        """Add a minute; at each full hour, True when the analysis fails the canary."""
        for series, (control, experiment) in zip(self.series, (data.error_rate, data.p95, data.quality), strict=True):
            series.add(control, experiment)
        return (data.minute + 1) % 60 == 0 and any(series.fails() for series in self.series)


def run_all(scenario: Scenario, seed: int) -> dict[str, tuple[int | None, int]]:
    """Per judge: (rollback minute or None, candidate errors served from the onset until then or the end)."""
    first = baseline(scenario)
    window, kayenta = WindowRule(first), KayentaJudge()
    threshold, sequential = WorkflowJudge("threshold", first), WorkflowJudge("sequential", first)
    rollbacks: dict[str, int | None] = dict.fromkeys(JUDGES)
    errors_at: dict[str, int] = {}
    onset_errors = 0
    last_errors = 0
    for data in simulate(scenario, seed):
        minute = data.minute + 1  # minutes since the start, at the end of this minute
        last_errors = data.candidate_errors
        if data.minute + 1 == scenario.onset_minute:
            onset_errors = data.candidate_errors
        if rollbacks["kayenta"] is None and kayenta.minute(data):
            rollbacks["kayenta"] = minute
        if data.reading is not None:
            if rollbacks["window"] is None and window.poll(data.reading):
                rollbacks["window"] = minute
            if threshold.rollback is None:
                threshold.poll(minute, data.reading)
                rollbacks["threshold"] = threshold.rollback
            if not sequential.done:
                sequential.poll(minute, data.reading)
                rollbacks["sequential"] = sequential.rollback
                rollbacks["sequential-criteria"] = sequential.criterion_fail
        for name, value in rollbacks.items():
            if value is not None and name not in errors_at:
                errors_at[name] = data.candidate_errors
        if all(value is not None for value in rollbacks.values()):
            break
    return {name: (rollbacks[name], max(0, errors_at.get(name, last_errors) - onset_errors)) for name in JUDGES}
