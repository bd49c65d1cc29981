"""Shadow comparison: replay recorded requests to both versions, never serving the candidate's answers."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from temporalio import activity

from activities.comparators import agrees
from activities.errors import ProviderRejected, ProviderUnavailable
from activities.http_errors import transport_problem
from models.activities import ArmStats, Disagreement, ShadowInput, ShadowResult
from workflows.gates import SHADOW_LATENCY_ALPHA
from workflows.quantile_test import excess_quantile_p_value, smallest_p_value

_EXAMPLES = 5


def load_requests(path: Path, limit: int) -> list[tuple[int, Any]]:
    """The first ``limit`` JSON lines of ``path``, with their line numbers; blank lines are skipped."""
    if not path.is_file():
        raise ProviderRejected(f"shadow.requests_file: no such file on the worker: {path.resolve()}")
    requests: list[tuple[int, Any]] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                requests.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ProviderRejected(f"shadow.requests_file: line {number} is not JSON: {exc}") from exc
            if len(requests) >= limit:
                break
    if not requests:
        raise ProviderRejected(f"shadow.requests_file: {path} holds no requests")
    return requests


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def _call(http: httpx.AsyncClient, url: str, body: Any, timeout: float) -> tuple[Any | None, float, str | None]:
    """One answer, its latency, and when there is no answer, why (said as a person would)."""
    started = time.perf_counter()
    try:
        response = await http.post(url, json=body, timeout=timeout)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code >= 400:
            return None, elapsed, f"HTTP {response.status_code} from {url}"
        return response.json(), elapsed, None
    except httpx.TransportError as exc:
        return None, (time.perf_counter() - started) * 1000, transport_problem(exc)
    except (httpx.HTTPError, ValueError) as exc:
        return None, (time.perf_counter() - started) * 1000, f"unusable answer from {url}: {exc}"


async def run_shadow(request: ShadowInput, http: httpx.AsyncClient) -> ShadowResult:
    """Send every request to both endpoints with bounded concurrency and compare the answers."""
    spec = request.shadow
    if spec.requests_file is None:  # the workflow resolves shadow.replay to the target's file before calling
        raise ProviderRejected("shadow: no request file (shadow.replay names none of the target's replay sets)")
    requests = load_requests(Path(spec.requests_file), spec.max_requests)
    gate = asyncio.Semaphore(spec.concurrency)
    timeout = spec.request_timeout.total_seconds()
    latencies: dict[str, list[float]] = {"stable": [], "candidate": []}
    errors = {"stable": 0, "candidate": 0}
    first_error: dict[str, str] = {}
    compared = agreed = 0
    examples: list[Disagreement] = []
    done = 0

    async def one(line: int, body: Any) -> None:
        nonlocal compared, agreed, done
        async with gate:
            (s_answer, s_ms, s_err), (c_answer, c_ms, c_err) = await asyncio.gather(
                _call(http, request.stable_endpoint, body, timeout),
                _call(http, request.candidate_endpoint, body, timeout),
            )
        for arm, answer, ms, err in (("stable", s_answer, s_ms, s_err), ("candidate", c_answer, c_ms, c_err)):
            latencies[arm].append(ms)
            if answer is None:
                errors[arm] += 1
                first_error.setdefault(arm, err or "no answer")
        if s_answer is not None and c_answer is not None:
            compared += 1
            if agrees(spec.compare, s_answer, c_answer):
                agreed += 1
            elif len(examples) < _EXAMPLES:
                examples.append(
                    Disagreement(line=line, stable=json.dumps(s_answer)[:200], candidate=json.dumps(c_answer)[:200])
                )
        done += 1
        if done % 25 == 0 and activity.in_activity():
            activity.heartbeat(done)

    await asyncio.gather(*(one(line, body) for line, body in requests))
    silent = [arm for arm in ("stable", "candidate") if requests and errors[arm] == len(requests)]
    if silent:
        # Nothing to compare is not a disagreement: say why the endpoint gave nothing (retried, then the
        # rollout rolls back before any traffic moved, with this sentence as the cause).
        raise ProviderUnavailable(
            "shadow: "
            + "; ".join(
                f"the {arm} endpoint answered none of {len(requests)} requests: {first_error[arm]}" for arm in silent
            )
        )

    def stats(arm: str) -> ArmStats:
        return ArmStats(
            requests=len(requests),
            errors=errors[arm],
            latency_p50_ms=_percentile(latencies[arm], 0.5),
            latency_p95_ms=_percentile(latencies[arm], 0.95),
        )

    p_value: float | None = None
    limit = request.latency_limit
    candidate, stable = latencies["candidate"], latencies["stable"]
    if limit is not None and smallest_p_value(len(candidate), len(stable)) < SHADOW_LATENCY_ALPHA:
        # The same latencies as the point p95s: every call, answered or not.
        p_value = excess_quantile_p_value(candidate, stable, ratio=limit.ratio)

    return ShadowResult(
        requests=len(requests),
        compared=compared,
        agreed=agreed,
        stable=stats("stable"),
        candidate=stats("candidate"),
        examples=sorted(examples, key=lambda d: d.line),
        compare=spec.compare,
        latency_p_value=p_value,
    )
