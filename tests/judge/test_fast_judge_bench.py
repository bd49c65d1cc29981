"""The judge benchmark's fast judge (``bench/judge/fast``) against the workflow judge it ports.

The benchmark trusts the numba port only where it reproduces ``workflows.judge.judge`` exactly, so these runs
cover each part of it: the error-rate test (A/A, a regression, a 4-step rollout carrying the test across
steps), the p95 test and its untestable verdict (a latency regression, power-of-two buckets), the quality test,
and the counter handling (a restart, missed scrapes, pods restarting with ``before_restart``).
"""

from __future__ import annotations

import pytest

from bench.judge.fast import check
from bench.judge.judges import run_all
from bench.judge.runner import run_seed
from bench.judge.scenarios import SCENARIOS

CELLS = (
    "aa-1%",
    "errors-2x",
    "p95-1.5x",
    "quality-0.05",
    "coarse-healthy",
    "whole-od0.16",
    "whole-errors-2x-onset24h",
    "partial-resets-whole",
    "counter-reset",
    "missed-scrapes",
)
SEED = 20240601


def test_the_fast_judge_is_the_workflow_judge_poll_by_poll() -> None:
    report = check.check(1, SEED, cells=CELLS)
    assert report.runs == len(CELLS)
    assert report.polls > 2 * 576, "most runs are judged for the whole 48 h"
    assert not report.differences, "\n".join(map(str, report.differences))


@pytest.mark.parametrize("cell", ["errors-2x", "partial-resets-whole"])
def test_the_benchmark_reports_the_same_results_on_either_path(cell: str) -> None:
    index = next(i for i, scenario in enumerate(SCENARIOS) if scenario.name == cell)
    seed = run_seed(SEED, index, 0)
    assert run_all(SCENARIOS[index], seed, fast=True) == run_all(SCENARIOS[index], seed, fast=False)
