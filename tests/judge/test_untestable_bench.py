"""The untestable bench cells (``bench.judge.untestable``) on a few seeded runs: what each rule does, not how fast."""

from __future__ import annotations

from bench.judge.untestable import coarse_accepted, drift_edge, drift_edge_fresh

SEEDS = range(6)


def test_a_drifting_p95_at_the_stands_edge_is_never_untestable_once_per_step() -> None:
    outcomes = [drift_edge_fresh(seed, once=True) for seed in SEEDS]
    assert not any(o.untestable for o in outcomes)
    assert all(o.decided_testable for o in outcomes)
    assert not any(drift_edge(seed, once=True).untestable for seed in SEEDS[:2]), "the check before traffic moves"


def test_the_per_poll_rule_flips_on_the_same_traffic() -> None:
    assert any(drift_edge_fresh(seed, once=False).untestable for seed in SEEDS)


def test_an_accepted_coarse_p95_is_refused_instead_of_promoting_a_1_5x_regression() -> None:
    for seed in SEEDS[:3]:
        before, after = coarse_accepted(seed, once=False), coarse_accepted(seed, once=True)
        assert before.promoted, "the per-poll rule accepted the 2x buckets and promoted"
        assert after.untestable and not after.promoted
