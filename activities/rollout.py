"""The activities of the Rollout workflow: every call to the outside world happens here.

Each one sets a desired state and then verifies it, so Temporal may retry it, or run it again on another worker
after a crash, without harm.
"""

from __future__ import annotations

import httpx
import structlog
from temporalio import activity

from activities.errors import ProviderError, ProviderRejected, RouterNotConverged
from activities.factory import metrics_for, router_for
from activities.http_errors import provider_call
from activities.shadow import run_shadow
from models.activities import (
    CounterPair,
    PreflightInput,
    PreflightResult,
    ReadCountersInput,
    RouterState,
    SetWeightsInput,
    ShadowInput,
    ShadowResult,
)
from models.segments import describe, same_segments

_TOLERANCE = 1e-6


def _log() -> structlog.stdlib.BoundLogger:
    info = activity.info()
    logger: structlog.stdlib.BoundLogger = structlog.get_logger("activities")
    return logger.bind(
        workflow_id=info.workflow_id,
        run_id=info.workflow_run_id,
        activity_type=info.activity_type,
        attempt=info.attempt,
    )


class RolloutActivities:
    """Activities bound to one shared HTTP client (connection pooling across every rollout on the worker)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    @activity.defn(name="set_weights")
    async def set_weights(self, request: SetWeightsInput) -> RouterState:
        """Set the candidate's share, then read it back: the step is done only when the router confirms."""
        want = RouterState(
            stable=100.0 - request.candidate_weight,
            candidate=request.candidate_weight,
            segments=request.segments,
            mirror=request.mirror,
        )
        router = router_for(request.router, self._http)
        try:
            await router.apply(want)
            got = await router.read()
            if abs(got.candidate - want.candidate) > _TOLERANCE or abs(got.stable - want.stable) > _TOLERANCE:
                raise RouterNotConverged(
                    f"router reports stable {got.stable:g}% / candidate {got.candidate:g}%, "
                    f"expected {want.stable:g}% / {want.candidate:g}%"
                )
            if want.candidate > 0 and not same_segments(got.segments, want.segments):
                raise RouterNotConverged(
                    f"router reports the candidate's share within {describe(got.segments) or 'everyone'}, "
                    f"expected {describe(want.segments) or 'everyone'}"
                )
            if got.mirror != want.mirror:
                # Off is checked as strictly as on: a rollback must leave no copies of live traffic behind.
                raise RouterNotConverged(
                    f"router reports its mirror to the candidate {'on' if got.mirror else 'off'}, expected "
                    f"{'on' if want.mirror else 'off'}"
                )
        except ProviderError as exc:
            _log().warning("set_weights failed", error=str(exc), candidate_weight=request.candidate_weight)
            raise exc.to_application_error() from exc
        _log().info(
            "weights applied", service=request.service, stable=got.stable, candidate=got.candidate, mirror=got.mirror
        )
        return got

    @activity.defn(name="read_counters")
    async def read_counters(self, request: ReadCountersInput) -> CounterPair:
        """Both versions' cumulative counters, read back to back so they cover the same moment."""
        provider = metrics_for(request.metrics, self._http)
        try:
            stable = await provider.counters(request.stable_version, request.stable_since)
            candidate = await provider.counters(request.candidate_version, request.candidate_since)
            # Only the custom metrics the rollout judges are kept, under their names (none: none kept).
            stable = stable.model_copy(
                update={"custom": await provider.custom(request.stable_version, request.custom, stable)}
            )
            candidate = candidate.model_copy(
                update={"custom": await provider.custom(request.candidate_version, request.custom, candidate)}
            )
        except ProviderError as exc:
            _log().warning("read_counters failed", error=str(exc))
            raise exc.to_application_error() from exc
        if not request.restarts:  # a workflow that does not ask gets the answer its release knows
            stable, candidate = (c.model_copy(update={"at": None}) for c in (stable, candidate))
        return CounterPair(stable=stable, candidate=candidate)

    @activity.defn(name="run_preflight")
    async def run_preflight(self, request: PreflightInput) -> PreflightResult:
        """Fetch the candidate's eval score; the workflow compares it with the baseline."""
        spec = request.preflight
        try:
            async with provider_call(f"preflight GET {spec.url}"):
                response = await self._http.get(spec.url)
                response.raise_for_status()
                data = response.json()
            score = data.get(spec.score_field) if isinstance(data, dict) else None
            if not isinstance(score, int | float) or isinstance(score, bool):
                raise ProviderRejected(
                    f"preflight: field {spec.score_field!r} missing or not a number in {data!r:.200}"
                )
        except ProviderError as exc:
            raise exc.to_application_error() from exc
        return PreflightResult(score=float(score), baseline=spec.baseline, tolerance=spec.tolerance)

    @activity.defn(name="run_shadow")
    async def run_shadow(self, request: ShadowInput) -> ShadowResult:
        """Replay the recorded requests to both versions and compare their answers."""
        try:
            result = await run_shadow(request, self._http)
        except ProviderError as exc:
            raise exc.to_application_error() from exc
        _log().info("shadow done", agreed=result.agreed, compared=result.compared)
        return result

    def all(self) -> list[object]:
        """Every rollout activity, bound to this HTTP client: the list the worker registers, kept beside them."""
        return [self.set_weights, self.read_counters, self.run_preflight, self.run_shadow]
