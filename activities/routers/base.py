"""The traffic-router interface: set the candidate's share, and read back what is really applied."""

from __future__ import annotations

from typing import Protocol

from models.activities import RouterState


class TrafficRouter(Protocol):
    """A router that can move a share of traffic between stable and candidate."""

    async def apply(self, state: RouterState) -> None:
        """Ask the router for these weights (idempotent: the same call twice leaves the same state)."""
        ...

    async def read(self) -> RouterState:
        """The weights the router applies right now."""
        ...
