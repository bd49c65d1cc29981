"""The fast judge against ``workflows.judge.judge``: the same decisions, verdicts, triggers and state, poll by poll.

For each sampled run, the workflow judge runs through ``judges._run_workflow_judge`` as the benchmark runs it,
recording every judgement, and the fast judge runs with its trace. Compared exactly, at every poll either judged:
the decision, each criterion's verdict, each hard trigger's ``breached``, the step totals (requests, errors,
quality count and sums, latency observations) and the tests' state (the error-rate test's floats and sums of
its grid, the margin's, quality's and latency's variance sums); then the outcome ``run_all`` reports (rollback
and pass minutes, untestable, the step totals' error). Floats are compared bit for bit: the port performs the
source's operations in the source's order, so any difference is a porting error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bench.judge.fast import layout
from bench.judge.fast import run as fast_run
from bench.judge.judges import WORKFLOW_JUDGES, JudgeFactory, WorkflowJudge, _run_workflow_judge
from bench.judge.runner import run_seed
from bench.judge.scenarios import SCENARIOS, Scenario
from bench.judge.traffic import Run, simulate
from models.counters import Counters
from workflows.judge import Judgement

_VERDICT = {name: code for code, name in enumerate(layout.VERDICTS)}
_DECISION = {name: code for code, name in enumerate(layout.DECISIONS)}
_INT_COLUMNS = (
    "decision",
    "error_rate verdict",
    "latency_p95 verdict",
    "quality verdict",
    "error_rate trigger",
    "latency_p95 trigger",
    *(
        f"{arm} {name}"
        for arm in ("stable", "candidate")
        for name in ("requests", "errors", "quality_count", "latency_total")
    ),
)
_FLOAT_COLUMNS = (
    *(f"{arm} {name}" for arm in ("stable", "candidate") for name in ("quality_sum", "quality_sum_squares")),
    "max_log_e_fail",
    "max_log_e_pass",
    "max_log_late",
    "pearson_sum",
    "variance_sum",
    "variance_square_sum",
    "recent_requests[0]",
    "recent_requests[1]",
    "recent_errors[0]",
    "recent_errors[1]",
    "margin stable_variance",
    "margin candidate_variance",
    "quality stable_variance",
    "quality candidate_variance",
    "sum(latency stable_variance)",
    "sum(latency candidate_variance)",
    "sum(log_likelihood)",
    "sum(finite late_log_e)",
    "sum(step_log_likelihood)",
)


class _Recording(WorkflowJudge):
    """The workflow judge as the benchmark runs it, keeping every poll's judgement."""

    def __init__(self, base: WorkflowJudge, first: tuple[Counters, Counters], steps: int) -> None:
        super().__init__(
            first, steps=steps, whole=base.whole, method=base.method, criteria_only=base.criteria_only, **base.options
        )
        self.judgements: list[Judgement] = []

    def poll(self, minute: int, reading: tuple[Counters, Counters]) -> None:
        super().poll(minute, reading)
        assert self.judgement is not None
        self.judgements.append(self.judgement)


def _recording(name: str) -> tuple[JudgeFactory, list[_Recording]]:
    made: list[_Recording] = []

    def factory(first: tuple[Counters, Counters], steps: int) -> WorkflowJudge:
        judge = _Recording(WORKFLOW_JUDGES[name](first, steps), first, steps)
        made.append(judge)
        return judge

    return factory, made


def _rows(judgements: list[Judgement]) -> tuple[np.ndarray, np.ndarray]:
    """The workflow judge's trace, column for column as ``run._trace`` writes the fast judge's."""
    ints = np.zeros((len(judgements), layout.TRACE_INTS), dtype=np.int64)
    floats = np.zeros((len(judgements), layout.TRACE_FLOATS))
    for row, judgement in enumerate(judgements):
        state = judgement.state
        sequential = state.sequential
        assert sequential is not None and sequential.error_rate is not None and sequential.error_margin is not None
        test = sequential.error_rate
        criteria = {result.name: result.verdict for result in judgement.criteria}
        triggers = {trigger.name: trigger.breached for trigger in judgement.triggers}
        ints[row, : layout.T_REQUESTS] = (
            _DECISION[judgement.decision],
            _VERDICT[criteria["error_rate"]],
            _VERDICT[criteria["latency_p95"]],
            _VERDICT[criteria["quality"]],
            triggers["error_rate"],
            triggers["latency_p95"],
        )
        latency = sequential.latency
        for arm, totals in enumerate((state.stable, state.candidate)):
            ints[row, layout.T_REQUESTS + 4 * arm : layout.T_REQUESTS + 4 * arm + 4] = (
                totals.requests,
                totals.errors,
                totals.quality_count,
                totals.latency_total,
            )
            floats[row, layout.F_QUALITY_SUMS + 2 * arm] = totals.quality_sum
            floats[row, layout.F_QUALITY_SUMS + 2 * arm + 1] = totals.quality_sum_squares
            variances = (latency.stable_variance, latency.candidate_variance)[arm] if latency is not None else []
            floats[row, layout.F_LATENCY + arm] = sum(variances)
        floats[row, layout.F_ERROR_STATE : layout.F_ERROR_STATE + layout.ERROR_FLOATS] = (
            test.max_log_e_fail,
            test.max_log_e_pass,
            test.max_log_late,
            test.pearson_sum,
            test.variance_sum,
            test.variance_square_sum,
            *test.recent_requests,
            *test.recent_errors,
        )
        floats[row, layout.F_MARGIN : layout.F_MARGIN + 2] = (
            sequential.error_margin.stable_variance,
            sequential.error_margin.candidate_variance,
        )
        floats[row, layout.F_QUALITY : layout.F_QUALITY + 2] = (
            sequential.quality.stable_variance,
            sequential.quality.candidate_variance,
        )
        floats[row, layout.F_LOG_LIKELIHOOD] = sum(test.log_likelihood)
        floats[row, layout.F_LOG_LIKELIHOOD + 1] = sum(value for value in test.late_log_e if value != -math.inf)
        floats[row, layout.F_LOG_LIKELIHOOD + 2] = sum(test.step_log_likelihood)
    return ints, floats


@dataclass
class Difference:
    """Where one run's fast judge first parts from the workflow judge."""

    cell: str
    run: int
    judge: str
    what: str

    def __str__(self) -> str:
        return f"{self.cell} run {self.run}, {self.judge}: {self.what}"


@dataclass
class Report:
    """A check's outcome: runs and polls compared, and every difference (none: identical)."""

    runs: int = 0
    polls: int = 0
    differences: list[Difference] = field(default_factory=list)


def _same_floats(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per element: equal bit for bit (so -0.0 differs from 0.0, and NaN equals NaN)."""
    return np.asarray(a.view(np.int64) == b.view(np.int64))


def compare_run(run: Run, scenario: Scenario, name: str) -> tuple[int, str | None]:
    """(polls compared, the first difference or None) between the two judges on one drawn run."""
    factory, made = _recording(name)
    slow_judge, totals_error = _run_workflow_judge(run, scenario, factory)
    assert made and slow_judge is made[0]
    slow_ints, slow_floats = _rows(made[0].judgements)
    fast = fast_run.judge(run, scenario, name, trace=True)
    polls = int(fast.outcome[fast_run.O_LAST_POLL]) + 1
    if polls != len(slow_ints):
        return min(polls, len(slow_ints)), f"fast judge stopped after {polls} polls, workflow judge {len(slow_ints)}"
    fast_ints, fast_floats = fast.trace[:polls], fast.trace_float[:polls]
    int_same = fast_ints == slow_ints
    float_same = _same_floats(fast_floats, slow_floats)
    if not (int_same.all() and float_same.all()):
        poll = int(np.flatnonzero(~(int_same.all(axis=1) & float_same.all(axis=1)))[0])
        columns = [_INT_COLUMNS[k] for k in np.flatnonzero(~int_same[poll])]
        columns += [_FLOAT_COLUMNS[k] for k in np.flatnonzero(~float_same[poll])]
        details = ", ".join(
            f"{column} fast {fast_value!r} workflow {slow_value!r}"
            for column, fast_value, slow_value in zip(
                columns,
                [*fast_ints[poll][~int_same[poll]].tolist(), *fast_floats[poll][~float_same[poll]].tolist()],
                [*slow_ints[poll][~int_same[poll]].tolist(), *slow_floats[poll][~float_same[poll]].tolist()],
                strict=True,
            )
        )
        return polls, f"poll {poll}: {details}"
    slow_outcome = (slow_judge.reported_rollback, slow_judge.passed, slow_judge.untestable, totals_error)
    fast_outcome = fast_run.outcome(run, scenario, name)
    if fast_outcome != slow_outcome:
        return polls, f"outcome fast {fast_outcome} workflow {slow_outcome}"
    return polls, None


def check(
    runs: int,
    base_seed: int,
    judges: tuple[str, ...] = tuple(fast_run.FAST_JUDGES),
    cells: tuple[str, ...] = (),
    first_run: int = 0,
) -> Report:
    """Compare the two judges on runs ``first_run`` .. ``first_run + runs - 1`` of every cell (or of ``cells``)."""
    report = Report()
    for index, scenario in enumerate(SCENARIOS):
        if cells and scenario.name not in cells:
            continue
        for number in range(first_run, first_run + runs):
            run = simulate(scenario, run_seed(base_seed, index, number))
            report.runs += 1
            for name in judges:
                polls, difference = compare_run(run, scenario, name)
                report.polls += polls
                if difference is not None:
                    report.differences.append(Difference(scenario.name, number, name, difference))
    return report


def main() -> int:
    import argparse
    import sys
    import time

    parser = argparse.ArgumentParser(prog="python -m bench.judge.fast.check", description=__doc__)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--first-run", type=int, default=0)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--cells", default="")
    args = parser.parse_args()
    started = time.monotonic()
    cells = tuple(name for name in args.cells.split(",") if name)
    report = check(args.runs, args.seed, cells=cells, first_run=args.first_run)
    for difference in report.differences:
        print(difference)
    print(
        f"{report.runs} runs ({report.polls} polls judged by both) in {time.monotonic() - started:.0f} s: "
        f"{len(report.differences)} differing",
        file=sys.stderr,
    )
    return 1 if report.differences else 0


if __name__ == "__main__":
    raise SystemExit(main())
