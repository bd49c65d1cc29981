"""The stable and candidate ports: real (fast) answers for shadow comparison replays."""

from __future__ import annotations

import asyncio
import random

from simulator.answers import answer, quality
from simulator.http11 import Request, Response, error_response, json_response
from simulator.world import World


class AnswerApp:
    """HTTP handler of one version's port: ``POST`` any path with a JSON body gets that version's answer.

    Knobs are read from the shared :class:`World` on every request, so a test turning a knob on the control port
    changes this port's behaviour at once.
    """

    def __init__(self, world: World, version: str) -> None:
        self.world = world
        self.version = version
        # Own generator: replays must not perturb the seeded synthetic traffic.
        self.rng = random.Random(f"{world.seed}:{version}")

    async def __call__(self, request: Request) -> Response:
        """Answer one request."""
        if request.method == "GET" and request.segments == ["healthz"]:
            return json_response({"ok": True, "version": self.version})
        if request.method != "POST":
            return error_response(405, "POST a JSON body", version=self.version)
        body = request.json()
        knobs = self.world.knobs[self.version]
        if knobs.serve_delay_ms > 0:
            await asyncio.sleep(knobs.serve_delay_ms / 1000)
        if self.rng.random() < knobs.error_rate:
            return error_response(500, "simulated model error", version=self.version)
        return json_response(
            {
                "version": self.version,
                "answer": answer(body, version=self.version, disagreement=knobs.disagreement),
                "quality": quality(body, version=self.version, mean=knobs.quality_mean, sd=knobs.quality_sd),
            }
        )
