"""The simulated user's world: routes, synthetic traffic, knobs and faults, shared by all three ports."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from models.counters import Counters
from simulator.knobs import GlobalKnobs, KnobsFile, VersionKnobs
from simulator.traffic import ServiceTraffic


class UnknownVersionError(KeyError):
    """A version name that is neither stable's nor candidate's."""


@dataclass(frozen=True)
class AppliedRoute:
    """One applied ``PUT /routes/{service}``, kept so tests can check the order and count of router calls."""

    seq: int
    service: str
    stable: float
    candidate: float
    at: float
    mirror: bool = False

    def as_json(self) -> dict[str, Any]:
        """The ``GET /calls`` item shape."""
        return {
            "seq": self.seq,
            "service": self.service,
            "stable": self.stable,
            "candidate": self.candidate,
            "at": self.at,
        } | ({"mirror": True} if self.mirror else {})


@dataclass
class Faults:
    """Injected outages: endpoints answer 503 (or are slow) while set."""

    router_down: bool = False
    metrics_down: bool = False
    router_apply_then_fail: bool = False
    router_delay_ms: float = 0.0
    metrics_delay_ms: float = 0.0

    def as_json(self) -> dict[str, Any]:
        """The ``GET /faults`` shape."""
        return {
            "router_down": self.router_down,
            "metrics_down": self.metrics_down,
            "router_apply_then_fail": self.router_apply_then_fail,
            "router_delay_ms": self.router_delay_ms,
            "metrics_delay_ms": self.metrics_delay_ms,
        }


@dataclass
class World:
    """All simulated state. Single-threaded (one asyncio loop), so no locking is needed."""

    stable_version: str
    candidate_version: str
    seed: int = 0
    global_knobs: GlobalKnobs = field(default_factory=GlobalKnobs)
    knobs: dict[str, VersionKnobs] = field(init=False)
    faults: Faults = field(default_factory=Faults)
    services: dict[str, ServiceTraffic] = field(default_factory=dict)
    calls: list[AppliedRoute] = field(default_factory=list)
    clock_offset: float = 0.0
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        if self.stable_version == self.candidate_version:
            raise ValueError("stable and candidate versions must differ")
        self.rng = random.Random(self.seed)
        self.knobs = {self.stable_version: VersionKnobs(), self.candidate_version: VersionKnobs()}

    # --- time -------------------------------------------------------------------------------------------------

    def now(self) -> float:
        """Monotonic time plus any simulated fast-forward (``POST /clock/advance``)."""
        return time.monotonic() + self.clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Pretend ``seconds`` passed, so a test gets minutes of traffic without waiting for them."""
        self.clock_offset += seconds

    # --- versions and knobs -----------------------------------------------------------------------------------

    def resolve_version(self, name: str) -> str:
        """A version name, accepting ``stable`` / ``candidate`` as aliases of the configured ones."""
        if name in self.knobs:
            return name
        if name == "stable":
            return self.stable_version
        if name == "candidate":
            return self.candidate_version
        raise UnknownVersionError(name)

    def apply_knobs_file(self, knobs_file: KnobsFile) -> None:
        """Apply initial knobs (validated; unknown versions are an error)."""
        if knobs_file.rps is not None:
            self.set_global_knobs({"rps": knobs_file.rps})
        for name, patch in knobs_file.versions.items():
            self.set_version_knobs(name, patch)

    def set_version_knobs(self, name: str, patch: dict[str, Any]) -> VersionKnobs:
        """Partially update a version's knobs from now on."""
        version = self.resolve_version(name)
        updated = self.knobs[version].updated(patch)
        self._advance_all()
        self.knobs[version] = updated
        return updated

    def set_global_knobs(self, patch: dict[str, Any]) -> GlobalKnobs:
        """Partially update the traffic knobs from now on."""
        updated = self.global_knobs.updated(patch)
        self._advance_all()
        self.global_knobs = updated
        return updated

    def knobs_json(self) -> dict[str, Any]:
        """The ``GET /knobs`` shape (same as a knobs file)."""
        return {"rps": self.global_knobs.rps, "versions": {v: k.model_dump() for v, k in self.knobs.items()}}

    # --- services ---------------------------------------------------------------------------------------------

    def service(self, name: str) -> ServiceTraffic:
        """The service's traffic, created (stable 100 / candidate 0, zero counters) on first use."""
        traffic = self.services.get(name)
        if traffic is None:
            traffic = ServiceTraffic(self.stable_version, self.candidate_version, started_at=self.now())
            self.services[name] = traffic
        return traffic

    def _advance(self, traffic: ServiceTraffic) -> None:
        traffic.advance(self.now(), self.global_knobs.rps, self.knobs, self.rng)

    def _advance_all(self) -> None:
        for traffic in self.services.values():
            self._advance(traffic)

    def routes(self, name: str) -> dict[str, Any]:
        """Current weights of a service, and ``mirror`` with the copies sent so far while a mirror is on."""
        traffic = self.service(name)
        routes: dict[str, Any] = {"stable": traffic.stable_weight, "candidate": traffic.candidate_weight}
        if traffic.mirror:
            self._advance(traffic)
            routes |= {"mirror": True, "mirrored": traffic.mirrored}
        return routes

    def set_routes(self, name: str, stable: float, candidate: float, mirror: bool = False) -> AppliedRoute:
        """Apply new weights (and mirror on or off) from now on and log the call."""
        traffic = self.service(name)
        self._advance(traffic)
        traffic.stable_weight, traffic.candidate_weight, traffic.mirror = stable, candidate, mirror
        applied = AppliedRoute(
            seq=len(self.calls) + 1, service=name, stable=stable, candidate=candidate, at=time.time(), mirror=mirror
        )
        self.calls.append(applied)
        return applied

    def counters(self, name: str, version: str) -> Counters:
        """Cumulative counters of one version in one service, up to now."""
        resolved = self.resolve_version(version)
        traffic = self.service(name)
        self._advance(traffic)
        return traffic.counters[resolved].snapshot()

    def reset(self, version: str) -> None:
        """Zero a version's counters in every service (its serving process restarted)."""
        resolved = self.resolve_version(version)
        self._advance_all()
        for traffic in self.services.values():
            traffic.reset(resolved)
