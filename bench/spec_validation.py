"""How long ``validate_spec`` takes on the 1,000 generated specs of the fuzz test (issue 10: "within a second").

``python -m bench.spec_validation [--repeats 5]``: every spec is validated ``repeats`` times; the figure per
spec is its median over the repeats, and the report gives the distribution over specs (median, p99, max) with a
bootstrap 95% interval for the p99. The specs are drawn derandomized, exactly as the fuzz test draws them: the
benchmark runs on traffic nobody tuned the validator to.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import time
from typing import Any

from hypothesis import HealthCheck, given, settings

from models.validation import SpecError, validate_spec
from tests.spec_strategies import specs

COUNT = 1_000


def drawn_specs(count: int = COUNT) -> list[Any]:
    """The fuzz test's specs, in its order."""
    drawn: list[Any] = []

    @settings(
        max_examples=count, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(specs())
    def collect(spec: Any) -> None:
        drawn.append(spec)

    collect()
    return drawn


def seconds(spec: Any) -> float:
    """Wall time of one validation, valid or not."""
    started = time.perf_counter()
    with contextlib.suppress(SpecError):
        validate_spec(spec)
    return time.perf_counter() - started


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    inputs = drawn_specs()
    per_spec = [statistics.median(seconds(s) for _ in range(args.repeats)) for s in inputs]
    rng = random.Random(0)
    boot = sorted(quantile(rng.choices(per_spec, k=len(per_spec)), 0.99) for _ in range(2_000))
    low, high = boot[50], boot[1_949]
    print(f"validate_spec on {len(inputs)} generated specs (median of {args.repeats} runs each):")
    print(f"  median {statistics.median(per_spec) * 1e3:.2f} ms")
    p99 = quantile(per_spec, 0.99) * 1e3
    print(f"  p99    {p99:.2f} ms  (95% bootstrap interval {low * 1e3:.2f}-{high * 1e3:.2f} ms)")
    print(f"  max    {max(per_spec) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
