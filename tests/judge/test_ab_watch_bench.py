"""The A/B and watch cells of bench/judge run the workflow's own rules: a few seeds, checked for their meaning."""

from __future__ import annotations

from bench.judge.ab_watch import CELLS, ab_run, render, watch_run

BY_NAME = {cell.name: cell for cell in CELLS}


def test_a_clearly_better_candidate_is_named_the_winner_within_the_horizon() -> None:
    named, minute, decisive = ab_run(BY_NAME["ab-quality+0.05"], seed=1)
    assert named == "candidate" and minute is not None and decisive is not None and decisive <= minute


def test_a_worse_candidate_is_never_named_the_winner() -> None:
    worse = BY_NAME["ab-quality+0.05"].__class__("worse", "ab", "candidate quality -0.05", quality_delta=-0.05)
    assert ab_run(worse, seed=1)[0] in ("stable", "guard")


def test_a_healthy_watch_ends_without_a_switch_back_on_this_seed() -> None:
    assert watch_run(BY_NAME["watch-healthy-1h"], seed=3) == (None, None, None)


def test_the_report_counts_any_winner_with_equal_arms_as_false() -> None:
    report = render({"ab-equal": [("candidate", 60, 30), (None, None, None)]}, command="c", wall=1.0, load="l")
    assert "| ab-equal: A/B 50/50, equal arms (quality 0.80 each) | 2 | 0.500 [" in report
