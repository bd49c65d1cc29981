"""The stable and candidate ports: real (fast) answers for shadow comparison replays."""

from __future__ import annotations

import asyncio
import random

from aiohttp import web

from simulator.answers import answer, quality
from simulator.serving import error_response, read_json
from simulator.world import World


class AnswerApp:
    """HTTP handlers of one version's port: ``POST`` any path with a JSON body gets that version's answer.

    Knobs are read from the shared :class:`World` on every request, so a test turning a knob on the control port
    changes this port's behaviour at once.
    """

    def __init__(self, world: World, version: str) -> None:
        self.world = world
        self.version = version
        # Own generator: replays must not perturb the seeded synthetic traffic.
        self.rng = random.Random(f"{world.seed}:{version}")

    def routes(self) -> list[web.RouteDef]:
        """``GET /healthz``; every other path and method reaches :meth:`_answer`, which wants a ``POST``."""
        return [web.get("/healthz", self._healthz), web.route("*", "/{path:.*}", self._answer)]

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "version": self.version})

    async def _answer(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            return error_response(405, "POST a JSON body", version=self.version)
        body = await read_json(request)
        knobs = self.world.knobs[self.version]
        if knobs.serve_delay_ms > 0:
            await asyncio.sleep(knobs.serve_delay_ms / 1000)
        if self.rng.random() < knobs.error_rate:
            return error_response(500, "simulated model error", version=self.version)
        return web.json_response(
            {
                "version": self.version,
                "answer": answer(body, version=self.version, disagreement=knobs.disagreement),
                "quality": quality(body, version=self.version, mean=knobs.quality_mean, sd=knobs.quality_sd),
            }
        )
