"""``python -m bench.shadow_latency``: how often the shadow gate fails on latency, point p95s against a quantile test.

Two kinds of cell, each judged by both rules of ``workflows.gates.shadow_gate`` (``tested`` False: the point
p95s at the limit with 5 ms of slack, as before the ``shadow-p95-test`` patch; True: Mood's quantile test at
1% with no slack, or the sample p95s beyond the 1.5x rollback trigger):

* synthetic: both versions' latencies drawn independently (lognormal, and a heavy-tailed mix where 3% of
  requests take a Pareto-tailed detour), the candidate's scaled by a true p95 ratio; 1,000 runs per cell by
  default. Nothing of the machine is in these.
* loopback: the real activity (``activities.shadow.run_shadow``) replaying the demo's recorded requests to two
  of the demo's model servers (``simulator.model_server``, real sleeps) over loopback, with the demo's
  latency (p50 20 ms, p95 48 ms) on stable and the candidate's p95 scaled; fewer runs (each is a real
  replay), and whatever else the machine runs is in them.

Example::

    python -m bench.shadow_latency --runs 1000 --loopback-runs 100 --out docs/shadow-gate-benchmark.md
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from activities.shadow import run_shadow
from bench.judge.stats import clopper_pearson
from models.activities import ArmStats, ShadowInput, ShadowResult
from models.criteria import Criteria
from models.spec import ExactCompare, ShadowSpec
from simulator.testing import run_model_server
from workflows.gates import latency_limit, shadow_gate
from workflows.quantile_test import excess_quantile_p_value

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = ROOT / "docs" / "examples" / "demo-requests.jsonl"
RATIOS = (1.0, 1.1, 1.3, 1.5, 2.0)
"""True p95 ratios: 1.0 is a healthy candidate, 1.1 sits on the default limit, 1.5 is the hard trigger's level."""
CRITERIA = Criteria()
"""The defaults a spec gets: p95 <= stable x 1.1."""
Z95 = 1.6448536269514722


def _arm(latencies: list[float]) -> ArmStats:
    ordered = sorted(latencies)
    return ArmStats(
        requests=len(ordered),
        errors=0,
        latency_p50_ms=ordered[len(ordered) // 2],
        latency_p95_ms=ordered[round(0.95 * (len(ordered) - 1))],
    )


def _result(stable: list[float], candidate: list[float]) -> ShadowResult:
    """What the activity returns for these latencies (the same p-value function, on the same limit)."""
    limit = latency_limit(CRITERIA)
    p_value = excess_quantile_p_value(candidate, stable, ratio=limit.ratio)
    n = len(stable)
    return ShadowResult(
        requests=n,
        compared=n,
        agreed=n,
        stable=_arm(stable),
        candidate=_arm(candidate),
        compare=ExactCompare(kind="exact"),
        latency_p_value=p_value,
    )


def _verdicts(result: ShadowResult) -> tuple[bool, bool]:
    """(point rule failed on latency, tested rule failed on latency)."""
    point = shadow_gate(result, min_agreement=0.0001, criteria=CRITERIA, tested=False)
    tested = shadow_gate(result, min_agreement=0.0001, criteria=CRITERIA, tested=True)
    return "candidate p95" in point.summary, "candidate p95" in tested.summary


def lognormal(p50: float, p95: float) -> Callable[[random.Random], float]:
    sigma = math.log(p95 / p50) / Z95
    return lambda rng: rng.lognormvariate(math.log(p50), sigma)


def heavy_tailed(p50: float, p95: float) -> Callable[[random.Random], float]:
    """The lognormal body, and 3% of requests delayed by a Pareto(1.5) detour (retries, cold caches)."""
    body = lognormal(p50, p95)

    def draw(rng: random.Random) -> float:
        value = body(rng)
        return value + (p50 * rng.paretovariate(1.5) if rng.random() < 0.03 else 0.0)

    return draw


def synthetic(runs: int, requests: int, seed: int) -> list[dict[str, object]]:
    """Each distribution x ratio: how often each rule failed the candidate."""
    rows: list[dict[str, object]] = []
    for name, make in (("lognormal", lognormal), ("heavy-tailed", heavy_tailed)):
        for ratio in RATIOS:
            stable_draw, candidate_draw = make(20.0, 48.0), make(20.0 * ratio, 48.0 * ratio)
            rng = random.Random(f"{seed}-{name}-{ratio}")
            point = tested = 0
            for _ in range(runs):
                stable = [stable_draw(rng) for _ in range(requests)]
                candidate = [candidate_draw(rng) for _ in range(requests)]
                p, b = _verdicts(_result(stable, candidate))
                point, tested = point + p, tested + b
            rows.append({"cell": f"{name}, x{ratio:g}", "runs": runs, "point": point, "tested": tested})
    return rows


async def loopback(runs: int, requests: int, concurrency: int) -> list[dict[str, object]]:
    """The real replay over loopback to the demo's two model servers, per ratio; each replay judged by both rules."""
    rows: list[dict[str, object]] = []
    shadow = ShadowSpec(requests_file=str(REQUESTS), max_requests=requests, concurrency=concurrency)
    for ratio in (1.0, 1.5):
        point = tested = 0
        async with (
            run_model_server(version="v1", error_rate=0.0, latency_p50_ms=20.0, latency_p95_ms=48.0, seed=1) as s,
            run_model_server(
                version="v2", error_rate=0.0, latency_p50_ms=20.0 * ratio, latency_p95_ms=48.0 * ratio, seed=2
            ) as c,
            httpx.AsyncClient() as http,
        ):
            task = ShadowInput(
                shadow=shadow,
                stable_endpoint=s.answer_url,
                candidate_endpoint=c.answer_url,
                latency_limit=latency_limit(CRITERIA),
            )
            for _ in range(runs):
                p, b = _verdicts(await run_shadow(task, http))
                point, tested = point + p, tested + b
        rows.append({"cell": f"loopback, x{ratio:g}", "runs": runs, "point": point, "tested": tested})
    return rows


def _rate(count: int, runs: int) -> str:
    low, high = clopper_pearson(count, runs)
    return f"{count}/{runs} = {count / runs:.1%} [{low:.1%}, {high:.1%}]"


def report(rows: list[dict[str, object]], requests: int, took: float) -> str:
    lines = [
        "# Shadow gate: failing on latency, point p95s against a quantile test",
        "",
        "Generated by `python -m bench.shadow_latency` (bench/shadow_latency.py describes the cells). Each row: how",
        f"often the shadow gate failed the candidate on latency, {requests} replayed requests per run, criterion",
        "p95 <= stable x 1.1, with 95 % Clopper-Pearson intervals. At x1.0 and x1.1 a failure is a false one;",
        "from x1.3 up it is a detection. `point` compares the sample p95s at the limit plus 5 ms (before the",
        "`shadow-p95-test` patch). `tested` fails when Mood's quantile test puts the candidate's p95 above the",
        "limit at 1 %, or when the sample p95s are beyond the 1.5x rollback trigger (ADR 39).",
        "",
        "| cell | point rule failed | tested rule failed |",
        "| --- | --- | --- |",
    ]
    for row in rows:
        runs = int(str(row["runs"]))
        lines.append(
            f"| {row['cell']} | {_rate(int(str(row['point'])), runs)} | {_rate(int(str(row['tested'])), runs)} |"
        )
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    lines += ["", f"Took {took:.0f} s; load average at the end {load} (2 cores)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000, help="synthetic runs per cell")
    parser.add_argument("--loopback-runs", type=int, default=100, help="real replays per loopback cell (0: none)")
    parser.add_argument("--requests", type=int, default=400, help="requests per replay (the demo's 400)")
    parser.add_argument("--concurrency", type=int, default=8, help="the replay's concurrency (the spec default)")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--out", type=Path, help="write the Markdown report here (else print it)")
    args = parser.parse_args()
    started = time.monotonic()
    rows = synthetic(args.runs, args.requests, args.seed)
    if args.loopback_runs:
        rows += asyncio.run(loopback(args.loopback_runs, args.requests, args.concurrency))
    text = report(rows, args.requests, time.monotonic() - started)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
