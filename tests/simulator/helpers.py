"""Shared helpers of the simulator tests."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from models.counters import Counters

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], *, within: float = 5.0) -> T:
    """Poll ``probe`` until ``accept`` holds, instead of sleeping a guessed amount of time."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s; last value: {value!r}")
        await asyncio.sleep(0.02)


def quantile_ms(counters: Counters, q: float) -> float:
    """Quantile from cumulative buckets with linear interpolation inside the bucket (as a judge would)."""
    total = counters.latency_ms_buckets[-1][1]
    rank = q * total
    previous_bound, previous_count = 0.0, 0
    for bound, count in counters.latency_ms_buckets:
        if count >= rank:
            if math.isinf(bound):
                return previous_bound
            share = (rank - previous_count) / max(count - previous_count, 1)
            return previous_bound + share * (bound - previous_bound)
        previous_bound, previous_count = bound, count
    return previous_bound
