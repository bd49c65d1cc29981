"""Synthetic production traffic of one service, advanced lazily from elapsed time.

Instead of a ticker that could fall behind, every reader first calls :meth:`ServiceTraffic.advance`, which
draws the aggregate outcome of all requests since the previous advance under the weights and knobs that were in
force over that interval. Writers (route changes, knob changes, resets) advance first too, so a change applies
exactly from the moment it is made, whatever the read pattern.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from models.counters import Counters, CustomValue
from simulator.buckets import LATENCY_BOUNDS_MS, bucket_index, bucket_probabilities, lognormal_params
from simulator.inputs import FEATURES, mix
from simulator.knobs import VersionKnobs
from simulator.sampling import binomial, multinomial, poisson, quality_sums

_EXACT_LATENCY_MAX = 64


@lru_cache(maxsize=64)
def _cached_bucket_probabilities(p50_ms: float, p95_ms: float) -> tuple[float, ...]:
    return tuple(bucket_probabilities(p50_ms, p95_ms))


@dataclass
class VersionCounters:
    """Mutable cumulative counters of one version in one service."""

    requests: int = 0
    errors: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BOUNDS_MS))
    quality_sum: float = 0.0
    quality_sum_squares: float = 0.0
    quality_count: int = 0
    inputs: dict[str, list[int]] = field(default_factory=lambda: {f: [0] * len(v) for f, v in FEATURES.items()})
    input_rng: random.Random = field(default_factory=lambda: random.Random(0))
    """Input features are drawn from their own generator, so the outcome draws (and every seeded figure that
    rests on them) are the same as before features were counted."""
    events: dict[str, int] = field(default_factory=dict)
    """Custom events per name (the ``events`` knob), reported under the answer's ``custom``."""
    event_rng: random.Random = field(default_factory=lambda: random.Random(1))
    """Events have their own generator too, for the same reason."""

    def add_batch(self, rng: random.Random, n: int, knobs: VersionKnobs) -> None:
        """Draw and add the outcome of ``n`` requests served under ``knobs``."""
        if n <= 0:
            return
        errors = binomial(rng, n, knobs.error_rate)
        if n <= _EXACT_LATENCY_MAX:
            mu, sigma = lognormal_params(knobs.latency_p50_ms, knobs.latency_p95_ms)
            for _ in range(n):
                self.buckets[bucket_index(rng.lognormvariate(mu, sigma))] += 1
        else:
            probs = _cached_bucket_probabilities(knobs.latency_p50_ms, knobs.latency_p95_ms)
            for index, count in enumerate(multinomial(rng, n, probs)):
                self.buckets[index] += count
        ok = n - errors
        total, squares = quality_sums(rng, ok, knobs.quality_mean, knobs.quality_sd)
        self.requests += n
        self.errors += errors
        self.quality_sum += total
        self.quality_sum_squares += squares
        self.quality_count += ok
        for feature, probs in mix(knobs.input_shift).items():
            for index, count in enumerate(multinomial(self.input_rng, n, probs)):
                self.inputs[feature][index] += count
        for name, share in knobs.events.items():
            self.events[name] = self.events.get(name, 0) + binomial(self.event_rng, n, share)

    def add_one(
        self, *, latency_ms: float, error: bool, quality: float | None, features: dict[str, str] | None = None
    ) -> None:
        """Record one real request (used by the model server, which serves requests one by one)."""
        for feature, value in (features or {}).items():
            values = FEATURES.get(feature)
            if values is not None and value in values:
                self.inputs[feature][values.index(value)] += 1
        self.requests += 1
        self.errors += int(error)
        self.buckets[bucket_index(latency_ms)] += 1
        if quality is not None:
            self.quality_sum += quality
            self.quality_sum_squares += quality * quality
            self.quality_count += 1

    def snapshot(self) -> Counters:
        """The cumulative JSON shape the metrics providers report."""
        cumulative: list[tuple[float, int]] = []
        running = 0
        for bound, count in zip(LATENCY_BOUNDS_MS, self.buckets, strict=True):
            running += count
            cumulative.append((bound, running))
        return Counters(
            requests=self.requests,
            errors=self.errors,
            latency_ms_buckets=cumulative,
            quality_sum=self.quality_sum,
            quality_sum_squares=self.quality_sum_squares,
            quality_count=self.quality_count,
            inputs={f: dict(zip(FEATURES[f], counts, strict=True)) for f, counts in self.inputs.items()},
            custom={name: CustomValue(value=float(count)) for name, count in sorted(self.events.items())},
        )


@dataclass
class ServiceTraffic:
    """Traffic of one routed service: the weights in force and the counters of each version."""

    stable_version: str
    candidate_version: str
    started_at: float
    stable_weight: float = 100.0
    candidate_weight: float = 0.0
    mirror: bool = False
    """A copy of every request stable serves also goes to the candidate (its answers discarded): the candidate's
    counters count the copies, as a real candidate's metrics would, and ``mirrored`` counts them apart."""
    mirrored: int = 0
    last_advanced: float = field(init=False)
    counters: dict[str, VersionCounters] = field(init=False)

    def __post_init__(self) -> None:
        self.last_advanced = self.started_at
        self.counters = {self.stable_version: VersionCounters(), self.candidate_version: VersionCounters()}

    def advance(self, now: float, rps: float, knobs: Mapping[str, VersionKnobs], rng: random.Random) -> None:
        """Add the requests of ``(last_advanced, now]`` under the current weights and knobs."""
        elapsed = now - self.last_advanced
        if elapsed <= 0:
            return
        self.last_advanced = now
        total = poisson(rng, rps * elapsed)
        to_candidate = binomial(rng, total, self.candidate_weight / 100.0)
        self.counters[self.stable_version].add_batch(rng, total - to_candidate, knobs[self.stable_version])
        self.counters[self.candidate_version].add_batch(rng, to_candidate, knobs[self.candidate_version])
        if self.mirror:  # drawn only while on, so every seeded figure without a mirror stays what it was
            copies = total - to_candidate
            self.counters[self.candidate_version].add_batch(rng, copies, knobs[self.candidate_version])
            self.mirrored += copies

    def reset(self, version: str) -> None:
        """Zero one version's counters, as a restart of its serving process would."""
        self.counters[version] = VersionCounters()
