"""The judge benchmark's issue-19 cells and plumbing (``bench.judge``): each cell draws what its name says.

Seeded single runs, checked for their meaning, never for speed: the benchmark's figures are in
docs/judge-benchmark.md.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.judge.judges import DEFAULT_JUDGES, HORIZON_POLLS, WORKFLOW_JUDGES, Result, run_all
from bench.judge.report import ISSUE_19_TARGETS, render
from bench.judge.runner import run_cells
from bench.judge.scenarios import HEAVY_TAIL_SIGMA, POLL_MINUTES, SCENARIOS, Scenario
from bench.judge.stats import median_interval
from bench.judge.traffic import FINE_BOUNDS, POLLS, SCRAPE_LOSS_MAX, Run, bucket_probabilities, simulate
from models.spec import RolloutSpec
from workflows.judge.increments import increment, validate_counters
from workflows.rollout.analysis import horizon_polls

CELLS = {scenario.name: scenario for scenario in SCENARIOS}


def test_the_detector_horizon_is_production_s() -> None:
    spec = RolloutSpec.model_validate(
        {
            "service": "svc",
            "requested_by": "ml-engineer",
            "stable": {"version": "v1"},
            "candidate": {"version": "v2"},
            "router": {"kind": "http", "url": "http://127.0.0.1:1/routes"},
            "metrics": {"kind": "http-json", "url": "http://127.0.0.1:1/metrics"},
        }
    )
    assert spec.total_observation.total_seconds() == POLLS * POLL_MINUTES * 60
    assert HORIZON_POLLS == horizon_polls(spec) == 1153


def test_every_target_names_a_cell_that_exists() -> None:
    assert {target.cell for target in ISSUE_19_TARGETS} <= set(CELLS)
    assert len(CELLS) == len(SCENARIOS), "cell names are unique"


def test_pods_sum_to_the_version_and_one_restart_resets_only_its_pod() -> None:
    run = simulate(CELLS["partial-resets-whole-no-samples"], 7)
    assert run.pod_raw is not None
    stable, candidate = run.reading(POLLS - 1)
    for arm in (stable, candidate):
        assert len(arm.series) == 10
        assert arm.requests == sum(pod.requests for pod in arm.series.values())
        assert arm.errors == sum(pod.errors for pod in arm.series.values())
    # The first restart is pod 0's, in the middle of the poll that starts at minute 120 (poll index 24).
    before, after = run.reading(23)[1], run.reading(24)[1]
    assert after.series["pod-0"].requests < before.series["pod-0"].requests
    assert after.requests < before.requests, "the sum drops: a sum() query would read the whole fleet as reset"
    for name in (f"pod-{pod}" for pod in range(1, 10)):
        assert after.series[name].requests >= before.series[name].requests
    # Per series, the increment is that poll's traffic less what the pod served before restarting.
    served = int(run.totals.requests[1, 25] - run.totals.requests[1, 24])
    counted = increment(before, after).requests
    assert 0.8 * served < counted < served
    assert all(pod.before_restart is None for reading in run.readings for arm in reading for pod in arm.series.values())


def _restart_polls(run: Run) -> list[int]:
    """The polls whose candidate reading says a pod restarted (carries ``before_restart``)."""
    return [
        poll
        for poll, (_, candidate) in enumerate(run.readings)
        if any(pod.before_restart is not None for pod in candidate.series.values())
    ]


def test_a_reader_with_samples_says_once_what_a_restarted_pod_held_at_its_last_scrape() -> None:
    """The Prometheus reader: the reading after a restart carries ``before_restart`` for that pod alone, the next
    one nothing, and the judge's own increment loses at most one scrape interval of the pod's poll."""
    run = simulate(CELLS["partial-resets-whole"], 7)
    polls = _restart_polls(run)
    assert polls == [row - 1 for row in sorted({restart.row for restart in run.pod_restarts})]
    assert polls[0] == 24, "pod 0 restarts in the poll that starts at minute 120"
    lost = []
    for poll in polls:
        for arm, (previous, current) in enumerate(zip(run.readings[poll - 1], run.readings[poll], strict=True)):
            carrying = [name for name, pod in current.series.items() if pod.before_restart is not None]
            assert len(carrying) == 1
            held = current.series[carrying[0]].before_restart
            assert held is not None and not held.series and held.before_restart is None
            assert held.requests >= previous.series[carrying[0]].requests, "its last scrape is after the last poll"
            assert len(held.latency_ms_buckets) == len(current.latency_ms_buckets)
            assert all(pod.before_restart is None for pod in run.readings[poll + 1][arm].series.values())
            validate_counters(current, "candidate" if arm else "stable")
            served = int(run.totals.requests[arm, poll + 1] - run.totals.requests[arm, poll])
            counted = increment(previous, current).requests
            assert 0 <= served - counted <= SCRAPE_LOSS_MAX * served
            lost.append(served - counted)
    without = simulate(CELLS["partial-resets-whole-no-samples"], 7)
    lost_without = [
        int(without.totals.requests[arm, poll + 1] - without.totals.requests[arm, poll])
        - increment(without.readings[poll - 1][arm], without.readings[poll][arm]).requests
        for poll in polls
        for arm in (0, 1)
    ]
    assert sum(lost) < sum(lost_without) / 5, "samples keep all but a scrape interval; no samples lose half a poll"


def test_the_judge_keeps_partial_reset_totals_within_a_percent() -> None:
    results = run_all(CELLS["partial-resets"], 3)
    without_samples = run_all(CELLS["partial-resets-whole-no-samples"], 3)
    for name in DEFAULT_JUDGES:
        assert 0.0 < results[name].totals_error < 0.01, "mid-poll restarts lose a little, never a fleet"
        assert 0.0 < without_samples[name].totals_error < 0.01


def test_totals_are_exact_without_restarts() -> None:
    assert run_all(CELLS["aa-1%"], 3)["evidence-3"].totals_error == 0.0


def test_sticky_users_differ_and_drift() -> None:
    run = simulate(CELLS["sticky-mix-shift"], 5)
    half = run.requests.shape[1] // 2
    rates = [
        run.errors[:, part].sum(axis=1) / run.requests[:, part].sum(axis=1)
        for part in (slice(0, half), slice(half, None))
    ]
    # Heavy users make up more of the candidate's first day and less of its second than of stable's traffic.
    assert rates[0][1] / rates[0][0] > 1.03
    assert rates[1][1] / rates[1][0] < 0.97


def test_one_arm_bursts_hit_the_candidate_for_one_poll() -> None:
    scenario = CELLS["one-arm-bursts"]
    run = simulate(scenario, 5)
    by_poll = run.errors.reshape(2, POLLS, POLL_MINUTES).sum(axis=2)
    requests = run.requests.reshape(2, POLLS, POLL_MINUTES).sum(axis=2)
    burst = np.arange(POLLS) % scenario.burst_every_polls == scenario.burst_every_polls // 2
    rates = by_poll / requests
    assert rates[1, burst].mean() > 5 * rates[1, ~burst].mean()
    assert rates[0, burst].mean() < 2 * rates[0, ~burst].mean()


def test_low_traffic_is_about_a_request_a_minute() -> None:
    run = simulate(CELLS["low-traffic"], 5)
    assert 0.8 < run.requests.sum() / run.requests.shape[1] < 1.2


def test_heavy_tailed_latency_keeps_its_p95_and_stretches_the_tail() -> None:
    heavy = bucket_probabilities(FINE_BOUNDS, np.ones(1), HEAVY_TAIL_SIGMA)[0]
    light = bucket_probabilities(FINE_BOUNDS, np.ones(1))[0]
    index_250 = next(i for i, bound in enumerate(FINE_BOUNDS) if bound >= 250.0)
    assert heavy[: index_250 + 1].sum() == pytest.approx(0.95, abs=0.02)
    assert light[: index_250 + 1].sum() == pytest.approx(0.95, abs=0.02)
    assert heavy[-1] > 10 * light[-1], "beyond 2 s"


def test_the_registry_takes_a_new_judge_with_one_entry() -> None:
    WORKFLOW_JUDGES["test-copy"] = WORKFLOW_JUDGES["evidence"]
    try:
        results = run_all(CELLS["errors-5x"], 1, ("evidence", "test-copy"))
    finally:
        del WORKFLOW_JUDGES["test-copy"]
    assert isinstance(results["test-copy"], Result)
    assert results["test-copy"] == results["evidence"]
    assert results["evidence"].rollback is not None


def test_one_command_writes_the_whole_report() -> None:
    cells = run_cells([CELLS["errors-5x"], CELLS["partial-resets"]], runs=2, workers=1, base_seed=1)
    report = render(cells, command="python -m bench.judge --runs 2", runs=2, wall_seconds=1.0, workers=1)
    assert "## Targets of issue 19" in report
    assert "partial resets: step totals within 1 % of the truth" in report
    assert "## Step totals" in report, "cells with pods show their step totals, target or not"
    assert "`errors-5x`" in report


def test_median_interval_brackets_the_median() -> None:
    values = [float(value) for value in range(1, 101)]
    low, high = median_interval(values)
    assert low < 50 < high
    assert median_interval([math.inf] * 9) == (math.inf, math.inf)


def test_new_cells_are_scenarios() -> None:
    assert all(isinstance(CELLS[name], Scenario) for name in ("sticky-mix-shift", "heavy-tail-aa", "whole-od0.3"))
