"""The control port: the traffic router, the metrics backend and the test's remote control, in one API.

Endpoints (all JSON; errors are ``{"error": ...}``):

- ``GET /healthz``
- ``GET|PUT /routes/{service}``: weights ``{"stable": float, "candidate": float}``, each in [0, 100], summing
  to 100. Applied PUTs are logged: ``GET /calls[?service=s]``.
- ``GET /metrics/{service}?version=v``: cumulative :class:`models.counters.Counters` of that version.
- ``GET /knobs``, ``PUT /knobs`` (``{"rps": ...}``), ``GET|PUT /knobs/{version}`` (partial update).
- ``POST /reset/{version}``: zero that version's counters (a restart).
- ``GET|PUT /faults``: ``router_down`` / ``metrics_down`` make those endpoints answer 503;
  ``router_apply_then_fail`` applies a route change but answers 503 (an ambiguous failure, for idempotency
  tests); ``router_delay_ms`` / ``metrics_delay_ms`` delay answers (timeout tests).
- ``POST /clock/advance`` ``{"seconds": s}``: fast-forward the synthetic traffic.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from pydantic import ValidationError

from simulator.http11 import HttpError, Request, Response, error_response, json_bytes_response, json_response
from simulator.knobs import validation_message
from simulator.world import UnknownVersionError, World

_WEIGHT_SUM_TOLERANCE = 1e-6


def _number(body: dict[str, Any], key: str, *, low: float, high: float) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise HttpError(400, f"{key!r} must be a finite number")
    if not low <= value <= high:
        raise HttpError(400, f"{key!r} must be within [{low:g}, {high:g}]")
    return float(value)


def _weights(body: dict[str, Any]) -> tuple[float, float]:
    stable = _number(body, "stable", low=0, high=100)
    candidate = _number(body, "candidate", low=0, high=100)
    if abs(stable + candidate - 100.0) > _WEIGHT_SUM_TOLERANCE:
        raise HttpError(400, f"weights must sum to 100, got {stable + candidate!r}")
    return stable, candidate


class ControlApp:
    """HTTP handler of the control port."""

    def __init__(self, world: World) -> None:
        self.world = world

    async def __call__(self, request: Request) -> Response:
        """Dispatch by method and path segments."""
        parts = request.segments
        method = request.method
        match parts:
            case ["healthz"]:
                return json_response({"ok": True})
            case ["routes", service]:
                return await self._routes(request, service)
            case ["calls"] if method == "GET":
                only = request.query.get("service")
                return json_response([c.as_json() for c in self.world.calls if only is None or c.service == only])
            case ["metrics", service] if method == "GET":
                return await self._metrics(request, service)
            case ["knobs"] if method == "GET":
                return json_response(self.world.knobs_json())
            case ["knobs"] if method == "PUT":
                try:
                    return json_response(self.world.set_global_knobs(request.json_object()).model_dump())
                except ValidationError as exc:
                    raise HttpError(400, validation_message(exc)) from exc
            case ["knobs", version]:
                return self._version_knobs(request, version)
            case ["reset", version] if method == "POST":
                try:
                    self.world.reset(version)
                except UnknownVersionError:
                    return error_response(404, f"unknown version {version!r}")
                return json_response({"reset": self.world.resolve_version(version)})
            case ["faults"] if method == "GET":
                return json_response(self.world.faults.as_json())
            case ["faults"] if method == "PUT":
                return self._faults(request)
            case ["clock", "advance"] if method == "POST":
                seconds = _number(request.json_object(), "seconds", low=0, high=1e7)
                self.world.advance_clock(seconds)
                return json_response({"advanced": seconds})
            case _:
                return error_response(
                    404 if method in {"GET", "PUT", "POST"} else 405, f"no route for {method} {request.path}"
                )

    async def _routes(self, request: Request, service: str) -> Response:
        faults = self.world.faults
        if faults.router_delay_ms > 0:
            await asyncio.sleep(faults.router_delay_ms / 1000)
        if faults.router_down:
            return error_response(503, "router is down (injected fault)")
        if request.method == "GET":
            return json_response(self.world.routes(service))
        if request.method != "PUT":
            return error_response(405, "use GET or PUT")
        stable, candidate = _weights(request.json_object())
        self.world.set_routes(service, stable, candidate)
        if faults.router_apply_then_fail:
            return error_response(503, "router applied the change but failed to answer (injected fault)")
        return json_response({"stable": stable, "candidate": candidate})

    async def _metrics(self, request: Request, service: str) -> Response:
        faults = self.world.faults
        if faults.metrics_delay_ms > 0:
            await asyncio.sleep(faults.metrics_delay_ms / 1000)
        if faults.metrics_down:
            return error_response(503, "metrics backend is down (injected fault)")
        version = request.query.get("version")
        if not version:
            return error_response(400, "query parameter 'version' is required")
        try:
            counters = self.world.counters(service, version)
        except UnknownVersionError:
            return error_response(
                404, f"unknown version {version!r}", known=[self.world.stable_version, self.world.candidate_version]
            )
        return json_bytes_response(counters.model_dump_json())

    def _version_knobs(self, request: Request, version: str) -> Response:
        try:
            resolved = self.world.resolve_version(version)
            if request.method == "GET":
                return json_response(self.world.knobs[resolved].model_dump())
            if request.method != "PUT":
                return error_response(405, "use GET or PUT")
            return json_response(self.world.set_version_knobs(resolved, request.json_object()).model_dump())
        except UnknownVersionError:
            return error_response(404, f"unknown version {version!r}")
        except ValidationError as exc:
            raise HttpError(400, validation_message(exc)) from exc

    def _faults(self, request: Request) -> Response:
        body = request.json_object()
        faults = self.world.faults
        unknown = set(body) - set(faults.as_json())
        if unknown:
            raise HttpError(400, f"unknown faults: {sorted(unknown)}")
        for key in ("router_down", "metrics_down", "router_apply_then_fail"):
            if key in body:
                if not isinstance(body[key], bool):
                    raise HttpError(400, f"{key!r} must be a boolean")
                setattr(faults, key, body[key])
        for key in ("router_delay_ms", "metrics_delay_ms"):
            if key in body:
                setattr(faults, key, _number(body, key, low=0, high=600_000))
        return json_response(faults.as_json())
