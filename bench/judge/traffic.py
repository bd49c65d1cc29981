"""Seeded traffic of one benchmark run, drawn with numpy for all 2,880 minutes at once.

Model, per minute m of 48 hours (daily phase = 2 pi m / 1440 + a phase drawn uniformly per run):

* requests ~ Poisson(100/s x 60 x load(m)), load = 1 + 0.5 sin(daily phase), by its normal approximation
  (the mean is 3,000-9,000: the two are indistinguishable);
* the candidate's share ~ Binomial(requests, share), share = the canary fraction (or, in the split-drift cell,
  1 % x 2^sin(daily phase): 0.5 %-2 % moving with the load);
* errors ~ Binomial(requests, rate) per version (exact), rate = base x (1 + 0.3 sin(daily phase)) (errors rise
  with load), x the cell's ratio for the candidate from the onset minute on, x5 on both during the incident
  hour (minutes 600-659), and, in the overdispersed cells, x a gamma factor of mean 1 and sd ``dispersion``
  drawn per poll and per version (the two versions' rates wobble independently);
* whole-rollout cells move the canary share through ``steps`` (equal lengths over the 48 h);
* latency lognormal (median 100 ms, p95 250 ms), stretched by 1 + 0.1 sin(daily phase), by the cell's factor
  for the candidate from the onset on, and by 1.5 on both during the incident hour;
* quality scores with mean 0.8 (+ the cell's delta for the candidate from the onset on) and sd 0.15: each
  minute's sample mean is drawn (normal, clipped to [0, 1]) and its sum of squares rebuilt with the population
  variance (capped at m(1 - m) so that scores can lie in [0, 1]); drawing the sample variance too would change
  nothing measurable, its noise being second order for every judge.

What the judges get:

* Kayenta: per-minute points per version, error rate, mean quality and the sample p95 (NaN without requests).
  The p95 is drawn from the normal approximation of the sample quantile's sampling distribution when the
  minute has at least 20 requests, and as the order statistic of n drawn latencies below that (the candidate
  at a low share), so Kayenta's p95s are not the polls' histograms (same distribution, not the same requests).
* Polls (every 5 minutes): each poll's requests, errors and quality sums are the sums of its minutes (the very
  numbers Kayenta sees); its latency histogram is one multinomial draw of the poll's requests over the bucket
  probabilities at the stretch of the poll's last minute, on the 7.5 % layout or, in the coarse cell, on
  powers of two.
* Nuisances: in the counter-reset cell the candidate's process restarts at 6 h and 30 h (its raw counters
  start again from zero); in the missed-scrape cell 5 % of polls deliver the previous reading again, and the
  next good scrape catches up.
* Pods (the partial-resets cells): each poll's traffic is split evenly at random over the pods of each version,
  each reported as a series of its own, and one pod of each version restarts mid-poll every
  ``pod_restart_minutes``. A reader with samples (Prometheus) loses what the pod served between its last scrape
  and the restart, and its next reading says what the pod held at that scrape (``Counters.before_restart``); a
  reader without history (http-json) sees only the new process' counters (``RESTART_KEEPS`` of the poll).

``Run.reading`` gives the raw cumulative counters a provider would report at a poll (resets and stale
scrapes included), for the workflow's judge; ``Run.seen`` gives the step's true cumulative increments as the
scrapes deliver them (a reset costs nothing, a stale scrape sees no new data), for the vectorised naive
judges.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from statistics import NormalDist
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from bench.judge.scenarios import MINUTES, POLL_MINUTES, SCRAPE_SECONDS, Scenario
from models.counters import Counters

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
_Number = TypeVar("_Number", np.int64, np.float64)

POLLS = MINUTES // POLL_MINUTES
RPS = 100.0
_Z95 = NormalDist().inv_cdf(0.95)
MU = math.log(100.0)
SIGMA = (math.log(250.0) - MU) / _Z95
QUALITY_MEAN, QUALITY_SD = 0.8, 0.15
INCIDENT_MINUTES = range(600, 660)
RESET_MINUTES = (6 * 60, 30 * 60)
MISSED_SCRAPE_SHARE = 0.05
_EXACT_P95_BELOW = 20
"""Minutes with fewer requests draw their p95 from actual samples: the normal approximation is poor there."""
_P95_SPREAD = math.sqrt(0.95 * 0.05) / NormalDist().pdf(_Z95)
"""sd of log(sample p95) is sigma x this / sqrt(n) (asymptotic normality of sample quantiles)."""
_LOG_P95 = MU + SIGMA * _Z95
POISSON_BELOW = 1000.0
"""Mean requests per minute below which they are drawn from the Poisson itself, not its normal approximation."""
RESTART_KEEPS = 0.5
"""Readers without samples (http-json, ``restart_samples=False``): the share of its restart poll's traffic a
restarted pod's new counters hold. The pod restarts mid-poll, on average halfway, and such a reader has only the
new process' counters: everything the pod served since the previous poll and before the restart is lost."""
SCRAPE_LOSS_MAX = SCRAPE_SECONDS / (POLL_MINUTES * 60)
"""Most of its restart poll's traffic a pod read with samples can lose: one whole scrape interval of the poll."""


def latency_mu(sigma: float) -> float:
    """Log-scale median of the lognormal latency with sd ``sigma`` whose p95 is 250 ms (unstretched)."""
    return _LOG_P95 - sigma * _Z95


def _fine_layout() -> tuple[float, ...]:
    bounds = [25.0, 50.0, 100.0]
    value = 150.0
    while value <= 750.0:
        bounds.append(round(value, 2))
        value *= 1.075
    return (*bounds, 1000.0, 2000.0, math.inf)


FINE_BOUNDS = _fine_layout()
"""The project's 7.5 % geometric buckets (as in ``simulator/buckets.py``) where p95s live (150-750 ms), with
coarse tails: 29 bounds instead of 100 keep the simulation fast. The sequential latency test splits its alpha
over the finite bounds, so with the full 100-bucket layout its threshold is log(98/24), about 1.4, higher."""
COARSE_BOUNDS: tuple[float, ...] = (25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, math.inf)

_TAIL = (0.319381530, -0.356563782, 1.781477937, -1.821255978, 1.330274429)
"""Abramowitz & Stegun 26.2.17: the normal CDF to 7.5e-8, vectorised (numpy has no erf)."""


def _normal_cdf(x: FloatArray) -> FloatArray:
    magnitude = np.abs(x)
    t = 1.0 / (1.0 + 0.2316419 * magnitude)
    series = t * (_TAIL[0] + t * (_TAIL[1] + t * (_TAIL[2] + t * (_TAIL[3] + t * _TAIL[4]))))
    tail = np.exp(-0.5 * magnitude * magnitude) / math.sqrt(2.0 * math.pi) * series
    return np.where(x >= 0.0, 1.0 - tail, tail)


def bucket_probabilities(bounds: tuple[float, ...], scale: FloatArray, sigma: float = SIGMA) -> FloatArray:
    """P(latency in bucket i) for lognormal latency stretched by each ``scale``: shape ``(*scale.shape, len)``."""
    assert math.isinf(bounds[-1]), "layouts end with +Inf: every request lands in a bucket"
    log_bounds = np.log(np.asarray(bounds[:-1]))
    cdf = _normal_cdf((log_bounds - np.log(scale)[..., None] - latency_mu(sigma)) / sigma)
    cdf = np.minimum(np.maximum.accumulate(cdf, axis=-1), 1.0)  # monotone and <= 1 despite rounding
    ones = np.ones((*scale.shape, 1))
    return np.diff(cdf, axis=-1, prepend=0.0, append=ones)


@dataclass(frozen=True)
class Totals:
    """Per-version (axis 0) counts per poll row (axis 1): step totals, raw counters or increments."""

    requests: IntArray
    errors: IntArray
    quality_sum: FloatArray
    quality_sum_squares: FloatArray
    buckets: IntArray
    """Latency histograms, cumulative over the bucket axis (2): counts at or below each bound."""

    def rows_of(self, pod: int) -> Totals:
        """One pod's totals, from totals whose axis 0 is the pod."""
        return Totals(
            self.requests[pod],
            self.errors[pod],
            self.quality_sum[pod],
            self.quality_sum_squares[pod],
            self.buckets[pod],
        )

    def rows(self, index: IntArray) -> Totals:
        """The totals at the given rows (axis 1)."""
        return Totals(
            self.requests[:, index],
            self.errors[:, index],
            self.quality_sum[:, index],
            self.quality_sum_squares[:, index],
            self.buckets[:, index],
        )

    def increments(self) -> Totals:
        """Row-to-row differences, the first row counted from zero."""
        return Totals(
            np.diff(self.requests, axis=1, prepend=0),
            np.diff(self.errors, axis=1, prepend=0),
            np.diff(self.quality_sum, axis=1, prepend=0.0),
            np.diff(self.quality_sum_squares, axis=1, prepend=0.0),
            np.diff(self.buckets, axis=1, prepend=np.zeros_like(self.buckets[:, :1])),
        )


_NO_SERIES: dict[str, Counters] = {}


def _reading(
    bounds: tuple[float, ...],
    requests: int,
    errors: int,
    buckets: list[int],
    total: float,
    squares: float,
    series: dict[str, Counters] = _NO_SERIES,
) -> Counters:
    # Valid by construction; the judge validates every reading itself anyway. Every field is given: pydantic
    # then calls no default factory, which made this the benchmark's costliest line outside the judge.
    return Counters.model_construct(
        requests=requests,
        errors=errors,
        latency_ms_buckets=list(zip(bounds, buckets, strict=True)),
        quality_sum=total,
        quality_sum_squares=min(squares, total),
        quality_count=requests,
        inputs={},
        custom={},
        series=series,
    )


def _row_readings(bounds: tuple[float, ...], raw: Totals, arm: int) -> list[Counters]:
    """The raw counters of one version at every row, built once per run (a stale scrape reuses its row's)."""
    return [
        _reading(bounds, requests, errors, buckets, total, squares)
        for requests, errors, buckets, total, squares in zip(
            raw.requests[arm].tolist(),
            raw.errors[arm].tolist(),
            raw.buckets[arm].tolist(),
            raw.quality_sum[arm].tolist(),
            raw.quality_sum_squares[arm].tolist(),
            strict=True,
        )
    ]


def baseline(scenario: Scenario) -> tuple[Counters, Counters]:
    """The raw counters at the step's start (both versions freshly started)."""
    bounds = COARSE_BOUNDS if scenario.coarse_buckets else FINE_BOUNDS
    zeros = [0] * len(bounds)
    return _reading(bounds, 0, 0, zeros, 0.0, 0.0), _reading(bounds, 0, 0, zeros, 0.0, 0.0)


@dataclass(frozen=True)
class Restart:
    """One pod's restart, as a reader with samples reports it (the same pod index restarts in both versions)."""

    pod: int
    row: int
    """The first row whose counters are the new process' (the restart happened in the poll ending there)."""
    before: Totals
    """The old process' raw counters at its last scrape before the restart: per version (axis 0), one row
    (axis 1), buckets cumulative; what the reading at ``row`` carries as ``before_restart``."""


@dataclass(frozen=True)
class ReadingArrays:
    """Every poll's raw readings as numpy arrays: what ``Run.readings`` holds, without a pydantic object.

    The fast judge (``bench/judge/fast/``) reads these; the workflow judge keeps ``Run.readings``. Each value is
    the very number the matching ``Counters`` field holds (``quality_sum_squares`` capped at ``quality_sum`` as
    ``_reading`` does; ``quality_count`` is the requests), so the two judges see the same data. Axis 0 is the
    version, then the poll; pods put their own axis first. A run without pods has ``pods`` 0 and empty pod arrays.
    """

    requests: IntArray
    """Per version and poll, shape (2, POLLS); so are ``errors``, ``quality_sum``, ``quality_sum_squares``."""
    errors: IntArray
    quality_sum: FloatArray
    quality_sum_squares: FloatArray
    buckets: IntArray
    """Cumulative bucket counts, shape (2, POLLS, bounds)."""
    pods: int
    pod: Totals
    """Each pod's series, axis 0 the pod: shapes (pods, 2, POLLS) and (pods, 2, POLLS, bounds)."""
    restarted: NDArray[np.bool_]
    """(pods, 2, POLLS): the pod's series carries ``before_restart`` at that poll (read with samples)."""
    before: Totals
    """What ``before_restart`` holds where ``restarted`` is set (zero elsewhere), shaped like ``pod``."""


def _capped(totals: Totals) -> Totals:
    """The totals as ``_reading`` turns them into counters: sums of squares capped at the sums."""
    return Totals(
        totals.requests,
        totals.errors,
        totals.quality_sum,
        np.minimum(totals.quality_sum_squares, totals.quality_sum),
        totals.buckets,
    )


@dataclass(frozen=True)
class Run:
    """One drawn 48-hour run of a cell. Axis 0 of every array is the version: 0 stable, 1 candidate."""

    scenario: Scenario
    bounds: tuple[float, ...]
    requests: IntArray
    """Per minute, shape (2, MINUTES); so are ``errors``, ``quality_sum`` and ``p95``."""
    errors: IntArray
    quality_sum: FloatArray
    p95: FloatArray
    """Kayenta's per-minute sample p95 in ms; NaN in minutes without requests."""
    totals: Totals
    """The step's true cumulative counts, row k after k polls (row 0: the step's start, all zero)."""
    raw: Totals
    """The raw counters each version's provider holds at each row (the candidate's restart from zero)."""
    scraped: IntArray
    """Per poll, the row whose raw counters its scrape delivers (an earlier row after a missed scrape)."""
    pod_raw: Totals | None = None
    """With pods: each pod's raw counters, axis 0 the pod (then version, row, ...); ``raw`` holds their sums."""
    pod_restarts: tuple[Restart, ...] = ()
    """With pods read with samples: every restart, for the ``before_restart`` of the reading that follows it."""

    def poll_minute(self, poll: int) -> int:
        """Minutes since the step started when poll ``poll`` (0-based) is read."""
        return (poll + 1) * POLL_MINUTES

    def reading(self, poll: int) -> tuple[Counters, Counters]:
        """The raw (stable, candidate) counters delivered at poll ``poll``, as ``workflows.judge`` reads them."""
        return self.readings[poll]

    @cached_property
    def readings(self) -> list[tuple[Counters, Counters]]:
        """Every poll's raw (stable, candidate) counters, built once and shared by every judge of the run."""
        rows = [self._arm_rows(arm) for arm in (0, 1)]
        readings = []
        previous = 0
        for row in self.scraped.tolist():
            readings.append((self._after(rows[0][row], 0, previous, row), self._after(rows[1][row], 1, previous, row)))
            previous = row
        return readings

    @cached_property
    def arrays(self) -> ReadingArrays:
        """``readings`` as arrays, for the fast judge: the same numbers, built without any pydantic object."""
        index = self.scraped
        top = _capped(self.raw.rows(index))
        if self.pod_raw is None:
            empty = np.zeros((0, 2, len(index)), dtype=np.int64)
            no_pods = Totals(
                empty,
                empty,
                empty.astype(np.float64),
                empty.astype(np.float64),
                np.zeros((0, 2, len(index), len(self.bounds)), dtype=np.int64),
            )
            return ReadingArrays(
                top.requests,
                top.errors,
                top.quality_sum,
                top.quality_sum_squares,
                top.buckets,
                pods=0,
                pod=no_pods,
                restarted=empty.astype(np.bool_),
                before=no_pods,
            )
        pods = len(self.pod_raw.requests)
        pod = _capped(_fieldwise(lambda values: np.ascontiguousarray(values[:, :, index]), self.pod_raw))
        restarted = np.zeros((pods, 2, len(index)), dtype=np.bool_)
        before = _fieldwise(np.zeros_like, pod)
        previous = 0
        for poll, row in enumerate(index.tolist()):
            # As ``_after``: the restarts since the previous reading, each pod's added when it restarted twice.
            restarts = [restart for restart in self.pod_restarts if previous < restart.row <= row]
            for number in sorted({restart.pod for restart in restarts}):
                summed = _fieldwise(
                    lambda *values: np.sum(values, axis=0), *(r.before for r in restarts if r.pod == number)
                )
                restarted[number, :, poll] = True
                for mine, value in zip(_fields(before), _fields(_capped(summed)), strict=True):
                    mine[number, :, poll] = value[:, 0]
            previous = row
        return ReadingArrays(
            top.requests,
            top.errors,
            top.quality_sum,
            top.quality_sum_squares,
            top.buckets,
            pods=pods,
            pod=pod,
            restarted=restarted,
            before=before,
        )

    def _after(self, reading: Counters, arm: int, previous: int, row: int) -> Counters:
        """The reading at ``row`` as a reader with samples delivers it after the one at ``previous``.

        Each pod that restarted in between carries its counters at its last scrape before the restart (before each
        one, added, should it have restarted more than once), as ``Counters.before_restart`` says; the reading
        after that carries nothing, since no restart happened since. Without samples, ``pod_restarts`` is empty.
        """
        restarts = [restart for restart in self.pod_restarts if previous < restart.row <= row]
        if not restarts:
            return reading
        series = dict(reading.series)
        for pod in sorted({restart.pod for restart in restarts}):
            before = _fieldwise(lambda *values: np.sum(values, axis=0), *(r.before for r in restarts if r.pod == pod))
            (sampled,) = _row_readings(self.bounds, before, arm)
            name = f"pod-{pod}"
            series[name] = Counters.model_construct(**{**series[name].__dict__, "before_restart": sampled})
        return Counters.model_construct(**{**reading.__dict__, "series": series})

    def _arm_rows(self, arm: int) -> list[Counters]:
        totals = _row_readings(self.bounds, self.raw, arm)
        if self.pod_raw is None:
            return totals
        pods = [_row_readings(self.bounds, self.pod_raw.rows_of(pod), arm) for pod in range(len(self.pod_raw.requests))]
        names = [f"pod-{pod}" for pod in range(len(pods))]
        return [
            Counters.model_construct(
                **{**total.__dict__, "series": dict(zip(names, (rows[row] for rows in pods), strict=True))}
            )
            for row, total in enumerate(totals)
        ]

    def seen(self) -> Totals:
        """Per poll, the step's cumulative counts as its scrape shows them (true increments, stale when missed)."""
        return self.totals.rows(self.scraped)

    def candidate_errors(self) -> IntArray:
        """Candidate errors served from the start to the end of each minute, index = minutes since the start."""
        return np.concatenate(([0], np.cumsum(self.errors[1])))

    def points(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Kayenta's per-minute (error rate, p95, mean quality), each (2, MINUTES), NaN without requests."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.errors / self.requests, self.p95, self.quality_sum / self.requests


def _quality_sums(rng: np.random.Generator, n: IntArray, mean: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Sum and sum of squares of each minute's n scores: a drawn sample mean, the population variance."""
    count = np.maximum(n, 1)
    sample_mean = np.clip(rng.normal(mean, QUALITY_SD / np.sqrt(count)), 0.0, 1.0)
    variance = np.minimum(QUALITY_SD * QUALITY_SD, sample_mean * (1.0 - sample_mean))
    total = sample_mean * n
    squares = (n - 1) * variance + n * sample_mean * sample_mean
    # n = 1 reduces to (x, x^2); n = 0 to (0, 0).
    return total, np.minimum(np.maximum(squares, total * total / count), total)


def _minute_p95(rng: np.random.Generator, n: IntArray, scale: FloatArray, sigma: float = SIGMA) -> FloatArray:
    """Each minute's sample p95 (nearest rank) of n lognormal latencies stretched by ``scale``; NaN for n = 0."""
    spread = sigma * _P95_SPREAD / np.sqrt(np.maximum(n, 1))
    p95 = np.exp(_LOG_P95 + spread * rng.standard_normal(n.shape)) * scale
    few = (n > 0) & (n < _EXACT_P95_BELOW)
    if few.any():
        sizes = n[few]
        samples = rng.standard_normal((sizes.size, _EXACT_P95_BELOW - 1))
        samples[np.arange(_EXACT_P95_BELOW - 1) >= sizes[:, None]] = np.inf  # sorts the unused draws last
        samples.sort(axis=1)
        rank = np.ceil(0.95 * sizes).astype(np.int64) - 1
        p95[few] = np.exp(latency_mu(sigma) + sigma * samples[np.arange(sizes.size), rank]) * scale[few]
    p95[n == 0] = np.nan
    return p95


def _step_totals(
    requests: IntArray, errors: IntArray, sums: FloatArray, squares: FloatArray, histograms: IntArray
) -> Totals:
    """Cumulative counts after each poll (row 0 = the step's start) from per-minute counts and poll histograms."""

    def by_poll(values: NDArray[np.generic]) -> NDArray[np.generic]:
        cumulative = np.cumsum(values.reshape(2, POLLS, POLL_MINUTES).sum(axis=2), axis=1)
        return np.concatenate((np.zeros_like(cumulative[:, :1]), cumulative), axis=1)

    buckets = np.cumsum(histograms, axis=1)
    return Totals(
        by_poll(requests).astype(np.int64),
        by_poll(errors).astype(np.int64),
        by_poll(sums).astype(np.float64),
        by_poll(squares).astype(np.float64),
        np.concatenate((np.zeros_like(buckets[:, :1]), buckets), axis=1),
    )


def _raw_counters(totals: Totals, scenario: Scenario) -> Totals:
    """Provider-side counters: the step totals, minus the candidate's counts before its last restart."""
    if not scenario.counter_reset:
        return totals
    restarted = np.zeros(POLLS + 1, dtype=np.int64)
    for minute in RESET_MINUTES:
        assert minute % POLL_MINUTES == 0, "restarts happen between polls"
        restarted[minute // POLL_MINUTES + 1 :] = minute // POLL_MINUTES
    before = totals.rows(restarted)

    def restart(values: NDArray[_Number], offset: NDArray[_Number]) -> NDArray[_Number]:
        shifted = values.copy()
        shifted[1] -= offset[1]
        return shifted

    return Totals(
        restart(totals.requests, before.requests),
        restart(totals.errors, before.errors),
        restart(totals.quality_sum, before.quality_sum),
        restart(totals.quality_sum_squares, before.quality_sum_squares),
        restart(totals.buckets, before.buckets),
    )


def simulate(scenario: Scenario, seed: int) -> Run:
    """Draw one 48-hour run of the cell."""
    rng = np.random.Generator(np.random.PCG64(seed))
    minutes = np.arange(MINUTES)
    cycle = np.sin(2.0 * math.pi / 1440.0 * minutes + rng.uniform(0.0, 2.0 * math.pi))
    incident = (minutes >= INCIDENT_MINUTES.start) & (minutes < INCIDENT_MINUTES.stop) & scenario.incident
    regressed = np.stack((np.zeros(MINUTES, dtype=np.bool_), minutes >= scenario.onset_minute))

    mean_requests = scenario.requests_per_minute * (1.0 + 0.5 * cycle)
    if scenario.requests_per_minute >= POISSON_BELOW:
        total = np.maximum(0, np.rint(rng.normal(mean_requests, np.sqrt(mean_requests)))).astype(np.int64)
    else:
        total = rng.poisson(mean_requests).astype(np.int64)
    if scenario.split_drift:
        share = 0.01 * 2.0**cycle
    elif scenario.steps:
        share = np.asarray(scenario.steps)[minutes * len(scenario.steps) // MINUTES]
    else:
        share = np.full(MINUTES, scenario.canary)
    candidate = rng.binomial(total, share).astype(np.int64)
    requests = np.stack((total - candidate, candidate))

    base_rate = scenario.base_error * (1.0 + 0.3 * cycle) * np.where(incident, 5.0, 1.0)
    rate = np.minimum(1.0, base_rate * np.where(regressed, scenario.error_ratio, 1.0))
    if scenario.dispersion > 0.0:
        # Each version's rate wobbles independently from poll to poll: gamma factors of mean 1, sd dispersion.
        if scenario.wobble == "lognormal":
            sigma = math.sqrt(math.log1p(scenario.dispersion**2))
            factors = np.exp(rng.normal(-0.5 * sigma * sigma, sigma, size=(2, POLLS)))
        else:
            shape = 1.0 / scenario.dispersion**2
            factors = rng.gamma(shape, 1.0 / shape, size=(2, POLLS))
        rate = np.minimum(1.0, rate * np.repeat(factors, POLL_MINUTES, axis=1))
    if scenario.burst_every_polls:
        burst = minutes // POLL_MINUTES % scenario.burst_every_polls == scenario.burst_every_polls // 2
        rate[1] = np.minimum(1.0, rate[1] * np.where(burst, scenario.burst_ratio, 1.0))
    errors = _errors(rng, scenario, requests, rate, minutes)

    quality_mean = QUALITY_MEAN + np.where(regressed, scenario.quality_delta, 0.0)
    quality_sum, quality_squares = _quality_sums(rng, requests, quality_mean)

    stretch = (1.0 + 0.1 * cycle) * np.where(incident, 1.5, 1.0) * np.where(regressed, scenario.latency_scale, 1.0)
    sigma = scenario.latency_sigma or SIGMA
    p95 = _minute_p95(rng, requests, stretch, sigma)

    bounds = COARSE_BOUNDS if scenario.coarse_buckets else FINE_BOUNDS
    poll_requests = requests.reshape(2, POLLS, POLL_MINUTES).sum(axis=2)
    probabilities = bucket_probabilities(bounds, stretch[:, POLL_MINUTES - 1 :: POLL_MINUTES], sigma)
    poll_histograms = rng.multinomial(poll_requests, probabilities).astype(np.int64)
    histograms = np.cumsum(poll_histograms, axis=2)

    totals = _step_totals(requests, errors, quality_sum, quality_squares, histograms)
    missed = rng.random(POLLS) < MISSED_SCRAPE_SHARE
    polls = np.arange(1, POLLS + 1)
    scraped = np.maximum.accumulate(np.where(missed, 0, polls)) if scenario.missed_scrapes else polls
    pod_raw = None
    pod_restarts: tuple[Restart, ...] = ()
    if scenario.pods:
        by_poll = totals.increments().rows(np.arange(1, POLLS + 1))
        by_poll = Totals(
            by_poll.requests, by_poll.errors, by_poll.quality_sum, by_poll.quality_sum_squares, poll_histograms
        )
        pod_raw, pod_restarts = _pod_counters(rng, scenario, by_poll)
    return Run(
        scenario=scenario,
        bounds=bounds,
        requests=requests,
        errors=errors,
        quality_sum=quality_sum,
        p95=p95,
        totals=totals,
        raw=_raw_counters(totals, scenario)
        if pod_raw is None
        else _fieldwise(lambda values: values.sum(axis=0), pod_raw),
        scraped=scraped.astype(np.int64),
        pod_raw=pod_raw,
        pod_restarts=pod_restarts,
    )


def _errors(
    rng: np.random.Generator, scenario: Scenario, requests: IntArray, rate: FloatArray, minutes: IntArray
) -> IntArray:
    """Each version's errors per minute; with sticky users, drawn per segment (light, and heavy at 3x)."""
    if not scenario.mix_shift:
        return rng.binomial(requests, rate).astype(np.int64)
    drift = 0.5 + scenario.mix_shift * np.sin(2.0 * math.pi * minutes / MINUTES)
    heavy = rng.binomial(requests, np.stack((np.full(MINUTES, 0.5), drift)))
    # Light users err at half the mean rate, heavy ones at 1.5x: a 50/50 mix has the mean rate.
    light_errors = rng.binomial(requests - heavy, 0.5 * rate)
    return (light_errors + rng.binomial(heavy, np.minimum(1.0, 1.5 * rate))).astype(np.int64)


def _fieldwise(function: Callable[..., Any], *parts: Totals) -> Totals:
    """``function`` applied to the same field of every part: Totals again."""
    return Totals(
        function(*(part.requests for part in parts)),
        function(*(part.errors for part in parts)),
        function(*(part.quality_sum for part in parts)),
        function(*(part.quality_sum_squares for part in parts)),
        function(*(part.buckets for part in parts)),
    )


def _split(rng: np.random.Generator, increments: Totals, share: float) -> Totals:
    """A random part of each poll's traffic (per-bucket counts): each request kept with probability ``share``.

    Buckets are thinned one by one (latency is independent of the rest), errors drawn without replacement
    from the poll's requests, quality sums split in proportion to the requests kept.
    """
    buckets = rng.binomial(increments.buckets, share)
    requests = buckets.sum(axis=-1)
    errors = rng.hypergeometric(increments.errors, increments.requests - increments.errors, requests)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(increments.requests > 0, requests / increments.requests, 0.0)
    return Totals(
        requests.astype(np.int64),
        errors.astype(np.int64),
        increments.quality_sum * fraction,
        increments.quality_sum_squares * fraction,
        buckets.astype(np.int64),
    )


def _fields(totals: Totals) -> tuple[NDArray[Any], ...]:
    return (totals.requests, totals.errors, totals.quality_sum, totals.quality_sum_squares, totals.buckets)


def _minus(a: Totals, b: Totals) -> Totals:
    return _fieldwise(np.subtract, a, b)


def _pod_counters(rng: np.random.Generator, scenario: Scenario, by_poll: Totals) -> tuple[Totals, tuple[Restart, ...]]:
    """Each pod's raw counters (pod, version, row): an even random split of each poll, one pod restarting at a time.

    ``by_poll`` holds each poll's increments (per-bucket counts, not cumulative). Every ``pod_restart_minutes``
    the next pod of each version restarts in the middle of a poll and its counters start again from zero. Read
    with samples (``restart_samples``), the pod loses a uniform share in [0, ``SCRAPE_LOSS_MAX``] of that poll's
    traffic (what it served after its last scrape), and the restart is returned with the old process' counters
    at that scrape (the restart's instant in the poll uniform too). Without samples its new counters hold
    ``RESTART_KEEPS`` of the poll, and nothing says what came before.
    """
    pods: list[Totals] = []
    remaining = by_poll
    for pod in range(scenario.pods):
        part = remaining if pod == scenario.pods - 1 else _split(rng, remaining, 1.0 / (scenario.pods - pod))
        pods.append(part)
        remaining = _minus(remaining, part)
    raw_pods = []
    pod_restarts: list[Restart] = []
    restarts = range(scenario.pod_restart_minutes, MINUTES, scenario.pod_restart_minutes)
    for pod, increments in enumerate(pods):
        # Rows of raw counters (row 0 the start, zero), per-bucket counts until the end.
        cumulative = _fieldwise(
            lambda values: np.concatenate((np.zeros_like(values[:, :1]), np.cumsum(values, axis=1)), axis=1),
            increments,
        )
        offset = _fieldwise(np.zeros_like, cumulative)
        for number, minute in enumerate(restarts):
            if number % scenario.pods != pod:
                continue
            poll = minute // POLL_MINUTES
            at_poll = np.asarray([poll])
            poll_increment = increments.rows(at_poll)
            if scenario.restart_samples:
                lost = _split(rng, poll_increment, rng.uniform(0.0, SCRAPE_LOSS_MAX))
                # Of the rest, what the pod served before its last scrape (the old process' samples end there).
                scraped = _split(rng, _minus(poll_increment, lost), rng.uniform(0.0, 1.0))
                old_process = _minus(cumulative.rows(at_poll), offset.rows(at_poll))
                before = _fieldwise(np.add, old_process, scraped)
                sampled = Totals(
                    before.requests,
                    before.errors,
                    before.quality_sum,
                    before.quality_sum_squares,
                    np.cumsum(before.buckets, axis=-1),
                )
                pod_restarts.append(Restart(pod, poll + 1, sampled))
                # The new process counts from its restart on: neither the lost part nor the scraped one.
                before_new = _fieldwise(np.add, lost, scraped)
            else:
                before_new = _minus(poll_increment, _split(rng, poll_increment, RESTART_KEEPS))
            forgotten = _fieldwise(np.add, cumulative.rows(at_poll), before_new)
            for mine, value in zip(_fields(offset), _fields(forgotten), strict=True):
                mine[:, poll + 1 :] = value
        raw_pods.append(_minus(cumulative, offset))
    stacked = _fieldwise(lambda *values: np.stack(values), *raw_pods)
    raw = Totals(
        stacked.requests,
        stacked.errors,
        stacked.quality_sum,
        stacked.quality_sum_squares,
        np.cumsum(stacked.buckets, axis=3),
    )
    return raw, tuple(sorted(pod_restarts, key=lambda restart: (restart.row, restart.pod)))
