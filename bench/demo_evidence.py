"""``python -m bench.demo_evidence``: how much traffic the demo needs for the real judge to decide.

Feeds the workflow's own judge (``workflows.judge``, the robust whole-rollout judge new rollouts use) with the
simulator's traffic model (``simulator.traffic.VersionCounters``: binomial errors, lognormal latency on the
model servers' buckets, quality scores) at the demo's rate, weights and analysis interval, and prints, per step,
the first analysis at which each criterion says ``pass`` or ``fail`` and the candidate requests it had then.
No clock, no servers: it answers "is 40 s at 5 % of N requests per second enough?" before a real run does.

Example::

    python -m bench.demo_evidence --rps 2000 --stable-error 0.001 --candidate-error 0.001
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from models.counters import Counters
from models.spec import RolloutSpec
from simulator.knobs import VersionKnobs
from simulator.sampling import binomial, poisson
from simulator.traffic import VersionCounters
from workflows.judge import JudgeState, judge, new_judge_state
from workflows.rollout.analysis import horizon_polls

ROOT = Path(__file__).resolve().parent.parent
DEMO_SPEC = ROOT / "docs" / "examples" / "demo-rollout.json"


def simulate(
    spec: RolloutSpec, rps: float, stable: VersionKnobs, candidate: VersionKnobs, seed: int
) -> list[dict[str, Any]]:
    """One rollout's steps judged poll by poll; each step's first pass/fail per criterion and its decision."""
    rng = random.Random(seed)
    counters = {"stable": VersionCounters(), "candidate": VersionCounters()}
    interval = spec.analysis_interval.total_seconds()
    carried: JudgeState | None = None
    out: list[dict[str, Any]] = []

    def snap() -> tuple[Counters, Counters]:
        return counters["stable"].snapshot(), counters["candidate"].snapshot()

    for step in spec.steps:
        state = new_judge_state(
            *snap(),
            method="sequential",
            whole_rollout=True,
            alpha_share=1.0 / len(spec.steps),
            horizon_polls=horizon_polls(spec),
            carried=carried,
            robust=True,
        )
        first: dict[str, str] = {}
        polls = max(1, int(step.observe.total_seconds() // interval))
        decision = "continue"
        for poll in range(1, 2 * polls + 1):  # the observe time, then one extension (on_inconclusive's default)
            total = poisson(rng, rps * interval)
            to_candidate = binomial(rng, total, step.weight / 100.0)
            counters["stable"].add_batch(rng, total - to_candidate, stable)
            counters["candidate"].add_batch(rng, to_candidate, candidate)
            s, c = snap()
            j = judge(state, stable=s, candidate=c, criteria=spec.criteria, triggers=spec.rollback_triggers)
            state = j.state
            for result in j.criteria:
                if result.verdict in ("pass", "fail") and result.name not in first:
                    first[result.name] = f"{result.verdict}@{poll} ({result.samples_candidate:,} req)"
            if j.decision == "rollback" or (j.decision == "pass" and poll >= polls):
                decision = f"{j.decision}@{poll}"
                break
        out.append({"weight": step.weight, "polls": polls, "decision": decision, "first": first})
        carried = state
        if decision.startswith("rollback"):
            break
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.demo_evidence", description=__doc__)
    parser.add_argument("--spec", type=Path, default=DEMO_SPEC)
    parser.add_argument("--rps", type=float, default=2000.0)
    parser.add_argument("--stable-error", type=float, default=0.001)
    parser.add_argument("--candidate-error", type=float, default=0.001)
    parser.add_argument("--p50", type=float, default=20.0)
    parser.add_argument("--p95", type=float, default=50.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    spec = RolloutSpec.model_validate(json.loads(args.spec.read_text()))
    stable = VersionKnobs(error_rate=args.stable_error, latency_p50_ms=args.p50, latency_p95_ms=args.p95)
    candidate = stable.updated({"error_rate": args.candidate_error})
    for seed in range(args.runs):
        for step in simulate(spec, args.rps, stable, candidate, seed):
            print(seed, json.dumps(step))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
