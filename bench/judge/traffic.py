"""Seeded traffic of one benchmark run: per-minute series (for Kayenta) and per-poll raw counters (the rest).

Model, per minute m of 48 hours:

* requests ~ Poisson(100/s x 60 x load(m)), load = 1 + 0.5 sin(daily phase), phase random per run;
* the candidate's share is the canary fraction (or, in the split-drift cell, 0.5 %-2 % moving with the load);
* errors ~ Binomial(requests, rate), rate = base x (1 + 0.3 sin(daily phase)) (errors rise with load), x the
  cell's ratio for the candidate after the onset, x5 on both during the incident hour;
* latency lognormal (median 100 ms, p95 250 ms), stretched by 1 + 0.1 sin(daily phase), by the cell's factor
  for the candidate after the onset, and by 1.5 on both during the incident hour; polls get a multinomial
  bucket histogram, Kayenta a per-minute sample p95 (the normal approximation of the order statistic);
* quality scores with mean 0.8 (+ the cell's delta for the candidate after the onset) and sd 0.15, drawn as
  per-minute sample mean and variance from which the provider's sum and sum of squares are rebuilt.

Requests, errors and quality sums of the polls are exactly the sums of the minutes the Kayenta judge sees;
only the latency histogram of a poll is drawn separately from Kayenta's per-minute p95s (same distribution).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from statistics import NormalDist

from bench.judge.sampling import binomial, multinomial_cumulative, poisson_large
from bench.judge.scenarios import MINUTES, POLL_MINUTES, Scenario
from workflows.counters import Counters

RPS = 100.0
_Z95 = NormalDist().inv_cdf(0.95)
MU = math.log(100.0)
SIGMA = (math.log(250.0) - MU) / _Z95
QUALITY_MEAN, QUALITY_SD = 0.8, 0.15
INCIDENT_MINUTES = range(600, 660)
_P95_SPREAD = SIGMA * math.sqrt(0.95 * 0.05) / NormalDist().pdf(_Z95)
"""sd of log(sample p95) is this / sqrt(n) (asymptotic normality of sample quantiles)."""
_LOG_P95 = MU + SIGMA * _Z95


def _fine_layout() -> tuple[float, ...]:
    bounds = [25.0, 50.0, 100.0]
    value = 150.0
    while value <= 750.0:
        bounds.append(round(value, 2))
        value *= 1.075
    return (*bounds, 1000.0, 2000.0, math.inf)


FINE_BOUNDS = _fine_layout()
"""The project's 7.5 % geometric buckets (as in ``simulator/buckets.py``) where p95s live (150-750 ms), with
coarse tails: 27 bounds instead of 100 keep the simulation fast. The sequential latency test splits its alpha
over the finite bounds, so with the full 100-bucket layout its threshold is log(98/24), about 1.4, higher."""
COARSE_BOUNDS: tuple[float, ...] = (25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, math.inf)


@lru_cache(maxsize=4096)
def conditional_bucket_shares(bounds: tuple[float, ...], scale: float) -> tuple[float, ...]:
    """P(bucket i | not below bucket i) for lognormal latency stretched by ``scale``."""
    shares = []
    previous = 0.0
    normal = NormalDist()
    for bound in bounds:
        cdf = 1.0 if math.isinf(bound) else normal.cdf((math.log(bound / scale) - MU) / SIGMA)
        shares.append(1.0 if previous >= 1.0 else min(1.0, max(0.0, (cdf - previous) / (1.0 - previous))))
        previous = max(previous, cdf)
    return tuple(shares)


@dataclass
class Arm:
    """Cumulative raw counters of one version, as its provider would report them."""

    bounds: tuple[float, ...]
    requests: int = 0
    errors: int = 0
    buckets: list[int] = field(default_factory=list)
    quality_sum: float = 0.0
    quality_sum_squares: float = 0.0

    def __post_init__(self) -> None:
        self.buckets = [0] * len(self.bounds)

    def reading(self) -> Counters:
        # Valid by construction; the judge validates every reading itself anyway.
        return Counters.model_construct(
            requests=self.requests,
            errors=self.errors,
            latency_ms_buckets=list(zip(self.bounds, self.buckets, strict=True)),
            quality_sum=self.quality_sum,
            quality_sum_squares=min(self.quality_sum_squares, self.quality_sum),
            quality_count=self.requests,
        )


@dataclass(frozen=True, slots=True)
class Minute:
    """What one simulated minute produced."""

    minute: int
    error_rate: tuple[float | None, float | None]
    """(stable, candidate) per-minute points for Kayenta; None when a version had no request that minute."""
    p95: tuple[float | None, float | None]
    quality: tuple[float | None, float | None]
    candidate_errors: int
    """Candidate errors actually served since the start, up to the end of this minute."""
    reading: tuple[Counters, Counters] | None
    """Raw (stable, candidate) counters delivered by the poll at the end of this minute (every 5 minutes),
    after missed scrapes and resets; None between polls."""


def _quality_sums(rng: random.Random, n: int, mean: float) -> tuple[float, float]:
    """Sum and sum of squares of a minute's n scores: a drawn sample mean, the population variance.

    Drawing the sample variance too changes nothing measurable (its noise is second order for every judge)
    and would cost a third of the simulation's time.
    """
    if n <= 0:
        return 0.0, 0.0
    if n == 1:
        x = min(1.0, max(0.0, rng.gauss(mean, QUALITY_SD)))
        return x, x * x
    sample_mean = min(1.0, max(0.0, rng.gauss(mean, QUALITY_SD / math.sqrt(n))))
    sample_var = min(QUALITY_SD * QUALITY_SD, sample_mean * (1.0 - sample_mean))
    total = sample_mean * n
    squares = (n - 1) * sample_var + n * sample_mean * sample_mean
    return total, min(max(squares, total * total / n), total)


def _minute_p95(rng: random.Random, n: int, scale: float) -> float | None:
    if n <= 0:
        return None
    if n >= 20:
        return math.exp(_LOG_P95 + rng.gauss(0.0, _P95_SPREAD / math.sqrt(n))) * scale
    samples = sorted(math.exp(rng.gauss(MU, SIGMA)) * scale for _ in range(n))
    return samples[math.ceil(0.95 * n) - 1]


def baseline(scenario: Scenario) -> tuple[Counters, Counters]:
    """The raw counters at the step's start (both versions freshly started)."""
    bounds = COARSE_BOUNDS if scenario.coarse_buckets else FINE_BOUNDS
    return Arm(bounds).reading(), Arm(bounds).reading()


def simulate(scenario: Scenario, seed: int) -> Iterator[Minute]:
    """Draw one 48-hour run of the cell, minute by minute (callers stop early once every judge is done)."""
    rng = random.Random(seed)
    phase = rng.uniform(0.0, 2.0 * math.pi)
    bounds = COARSE_BOUNDS if scenario.coarse_buckets else FINE_BOUNDS
    arms = (Arm(bounds), Arm(bounds))
    delivered = baseline(scenario)
    candidate_errors = 0
    reset_minutes = {6 * 60, 30 * 60} if scenario.counter_reset else set()
    poll_requests = [0, 0]
    two_pi_per_day = 2.0 * math.pi / 1440.0
    for minute in range(MINUTES):
        cycle = math.sin(two_pi_per_day * minute + phase)
        load = 1.0 + 0.5 * cycle
        active = minute >= scenario.onset_minute
        incident = scenario.incident and minute in INCIDENT_MINUTES
        share = 0.01 * 2.0**cycle if scenario.split_drift else scenario.canary
        if minute in reset_minutes:
            arms = (arms[0], Arm(bounds))
        total = poisson_large(rng, RPS * 60.0 * load)
        candidate_n = binomial(rng, total, share)
        base_rate = scenario.base_error * (1.0 + 0.3 * cycle) * (5.0 if incident else 1.0)
        latency_scale = (1.0 + 0.1 * cycle) * (1.5 if incident else 1.0)
        rates: list[float | None] = []
        p95s: list[float | None] = []
        qualities: list[float | None] = []
        for index, n in enumerate((total - candidate_n, candidate_n)):
            regressed = index == 1 and active
            errors = binomial(rng, n, min(1.0, base_rate * (scenario.error_ratio if regressed else 1.0)))
            scale = latency_scale * (scenario.latency_scale if regressed else 1.0)
            q_sum, q_squares = _quality_sums(rng, n, QUALITY_MEAN + (scenario.quality_delta if regressed else 0.0))
            arm = arms[index]
            arm.requests += n
            arm.errors += errors
            arm.quality_sum += q_sum
            arm.quality_sum_squares += q_squares
            poll_requests[index] += n
            rates.append(errors / n if n else None)
            p95s.append(_minute_p95(rng, n, scale))
            qualities.append(q_sum / n if n else None)
            if index == 1:
                candidate_errors += errors
        reading = None
        if (minute + 1) % POLL_MINUTES == 0:
            # The poll's histogram, drawn for the poll's requests at the poll's latency stretch.
            for index, arm in enumerate(arms):
                scale = latency_scale * (scenario.latency_scale if index == 1 and active else 1.0)
                shares = conditional_bucket_shares(bounds, round(scale, 3))
                drawn = multinomial_cumulative(rng, poll_requests[index], shares)
                arm.buckets = [old + new for old, new in zip(arm.buckets, drawn, strict=True)]
            poll_requests = [0, 0]
            if not (scenario.missed_scrapes and rng.random() < 0.05):
                delivered = (arms[0].reading(), arms[1].reading())
            reading = delivered
        yield Minute(
            minute,
            (rates[0], rates[1]),
            (p95s[0], p95s[1]),
            (qualities[0], qualities[1]),
            candidate_errors,
            reading,
        )
