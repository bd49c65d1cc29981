"""The control port: the traffic router, the metrics backend and the test's remote control, in one API.

Endpoints (all JSON; errors are ``{"error": ...}``):

- ``GET /healthz``
- ``GET|PUT /routes/{service}``: weights ``{"stable": float, "candidate": float}``, each in [0, 100], summing
  to 100, and ``"mirror": true`` to copy every request stable serves to the candidate too (absent: off; a GET
  while on also says how many copies were sent, ``mirrored``). Applied PUTs are logged: ``GET /calls[?service=s]``.
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

from aiohttp import web
from pydantic import ValidationError

from simulator.eval_suite import grade
from simulator.knobs import validation_message
from simulator.serving import error_response, model_response, read_json_object
from simulator.world import UnknownVersionError, World

_WEIGHT_SUM_TOLERANCE = 1e-6


def _number(body: dict[str, Any], key: str, *, low: float, high: float) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise web.HTTPBadRequest(text=f"{key!r} must be a finite number")
    if not low <= value <= high:
        raise web.HTTPBadRequest(text=f"{key!r} must be within [{low:g}, {high:g}]")
    return float(value)


def _weights(body: dict[str, Any]) -> tuple[float, float]:
    stable = _number(body, "stable", low=0, high=100)
    candidate = _number(body, "candidate", low=0, high=100)
    if abs(stable + candidate - 100.0) > _WEIGHT_SUM_TOLERANCE:
        raise web.HTTPBadRequest(text=f"weights must sum to 100, got {stable + candidate!r}")
    return stable, candidate


def _invalid(exc: ValidationError) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=validation_message(exc))


class ControlApp:
    """HTTP handlers of the control port."""

    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[web.RouteDef]:
        """The endpoints listed in the module docstring."""
        return [
            web.get("/healthz", self._healthz),
            web.get("/routes/{service}", self._routes),
            web.put("/routes/{service}", self._set_routes),
            web.get("/calls", self._calls),
            web.get("/metrics/{service}", self._metrics),
            web.get("/knobs", self._knobs),
            web.put("/knobs", self._set_global_knobs),
            web.get("/knobs/{version}", self._version_knobs),
            web.put("/knobs/{version}", self._set_version_knobs),
            web.post("/reset/{version}", self._reset),
            web.get("/faults", self._faults),
            web.put("/faults", self._set_faults),
            web.post("/clock/advance", self._advance),
            web.post("/grade", self._grade),
        ]

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def _grade(self, request: web.Request) -> web.Response:
        """The stand-ins' eval grader (``simulator.eval_suite.grade``)."""
        return web.json_response(grade(await read_json_object(request)))

    async def _router_faults(self) -> web.Response | None:
        """The injected router delay, then the router outage's answer if it is down."""
        faults = self.world.faults
        if faults.router_delay_ms > 0:
            await asyncio.sleep(faults.router_delay_ms / 1000)
        if faults.router_down:
            return error_response(503, "router is down (injected fault)")
        return None

    async def _routes(self, request: web.Request) -> web.Response:
        if (down := await self._router_faults()) is not None:
            return down
        return web.json_response(self.world.routes(request.match_info["service"]))

    async def _set_routes(self, request: web.Request) -> web.Response:
        if (down := await self._router_faults()) is not None:
            return down
        body = await read_json_object(request)
        stable, candidate = _weights(body)
        mirror = body.get("mirror", False)
        if not isinstance(mirror, bool):
            raise web.HTTPBadRequest(text="'mirror' must be true or false")
        self.world.set_routes(request.match_info["service"], stable, candidate, mirror)
        if self.world.faults.router_apply_then_fail:
            return error_response(503, "router applied the change but failed to answer (injected fault)")
        return web.json_response({"stable": stable, "candidate": candidate} | ({"mirror": True} if mirror else {}))

    async def _calls(self, request: web.Request) -> web.Response:
        only = request.query.get("service")
        return web.json_response([c.as_json() for c in self.world.calls if only is None or c.service == only])

    async def _metrics(self, request: web.Request) -> web.Response:
        faults = self.world.faults
        if faults.metrics_delay_ms > 0:
            await asyncio.sleep(faults.metrics_delay_ms / 1000)
        if faults.metrics_down:
            return error_response(503, "metrics backend is down (injected fault)")
        version = request.query.get("version")
        if not version:
            return error_response(400, "query parameter 'version' is required")
        try:
            counters = self.world.counters(request.match_info["service"], version)
        except UnknownVersionError:
            return error_response(
                404, f"unknown version {version!r}", known=[self.world.stable_version, self.world.candidate_version]
            )
        return model_response(counters)

    async def _knobs(self, _request: web.Request) -> web.Response:
        return web.json_response(self.world.knobs_json())

    async def _set_global_knobs(self, request: web.Request) -> web.Response:
        try:
            return web.json_response(self.world.set_global_knobs(await read_json_object(request)).model_dump())
        except ValidationError as exc:
            raise _invalid(exc) from exc

    async def _version_knobs(self, request: web.Request) -> web.Response:
        version = request.match_info["version"]
        try:
            return web.json_response(self.world.knobs[self.world.resolve_version(version)].model_dump())
        except UnknownVersionError:
            return error_response(404, f"unknown version {version!r}")

    async def _set_version_knobs(self, request: web.Request) -> web.Response:
        version = request.match_info["version"]
        try:
            resolved = self.world.resolve_version(version)
            knobs = self.world.set_version_knobs(resolved, await read_json_object(request))
        except UnknownVersionError:
            return error_response(404, f"unknown version {version!r}")
        except ValidationError as exc:
            raise _invalid(exc) from exc
        return web.json_response(knobs.model_dump())

    async def _reset(self, request: web.Request) -> web.Response:
        version = request.match_info["version"]
        try:
            self.world.reset(version)
        except UnknownVersionError:
            return error_response(404, f"unknown version {version!r}")
        return web.json_response({"reset": self.world.resolve_version(version)})

    async def _faults(self, _request: web.Request) -> web.Response:
        return web.json_response(self.world.faults.as_json())

    async def _set_faults(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        faults = self.world.faults
        unknown = set(body) - set(faults.as_json())
        if unknown:
            raise web.HTTPBadRequest(text=f"unknown faults: {sorted(unknown)}")
        for key in ("router_down", "metrics_down", "router_apply_then_fail"):
            if key in body:
                if not isinstance(body[key], bool):
                    raise web.HTTPBadRequest(text=f"{key!r} must be a boolean")
                setattr(faults, key, body[key])
        for key in ("router_delay_ms", "metrics_delay_ms"):
            if key in body:
                setattr(faults, key, _number(body, key, low=0, high=600_000))
        return web.json_response(faults.as_json())

    async def _advance(self, request: web.Request) -> web.Response:
        seconds = _number(await read_json_object(request), "seconds", low=0, high=1e7)
        self.world.advance_clock(seconds)
        return web.json_response({"advanced": seconds})
