"""The ``nginx`` router's mirror against a real nginx: copies reach the candidate, users only ever get stable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from activities.errors import ProviderRejected
from models.activities import RouterState
from simulator.nginx_proc import NginxProcess, run_nginx
from simulator.testing import run_model_server
from tests.e2e.test_nginx_router import versions
from tests.workflows.helpers import wait_until

pytestmark = pytest.mark.e2e


@dataclass
class Mirrored:
    nginx: NginxProcess
    stable_url: str
    candidate_url: str


@pytest.fixture
async def stand() -> AsyncIterator[Mirrored]:
    async with (
        run_model_server(version="v1", seed=1) as stable,
        run_model_server(version="v2", seed=2) as candidate,
        run_nginx(stable_url=stable.url, candidate_url=candidate.url, mirror=True) as proc,
    ):
        yield Mirrored(nginx=proc, stable_url=stable.url, candidate_url=candidate.url)


async def served(url: str) -> int:
    async with httpx.AsyncClient(timeout=5.0) as client:
        requests: int = (await client.get(f"{url}/counters")).json()["requests"]
        return requests


async def test_mirror_copies_requests_to_the_candidate_while_users_get_only_stable(stand: Mirrored) -> None:
    nginx = stand.nginx
    assert await nginx.set_weights(0) == RouterState(stable=100, candidate=0)
    assert set(await versions(nginx, 20)) == {"v1"}
    assert await served(stand.candidate_url) == 0, "mirror off: the internal location answers the copy itself"

    assert await nginx.set_weights(0, mirror=True) == RouterState(stable=100, candidate=0, mirror=True)
    assert "default 1;" in nginx.weights_path.read_text()
    assert set(await versions(nginx, 30)) == {"v1"}, "users get stable's answers only"

    async def copies_arrived() -> bool:
        return await served(stand.candidate_url) >= 30

    await wait_until(copies_arrived, timeout=15, what="30 mirrored requests at the candidate")
    assert await served(stand.stable_url) == 50

    assert await nginx.set_weights(0) == RouterState(stable=100, candidate=0), "the read back says off"
    before = await served(stand.candidate_url)
    assert set(await versions(nginx, 20)) == {"v1"}
    assert await served(stand.stable_url) == 70
    # All 30 copies had arrived before the switch, and the router returned only once the new workers served.
    assert await served(stand.candidate_url) == before


async def test_a_router_without_mirror_location_refuses_a_mirror() -> None:
    async with (
        run_model_server(version="v1", seed=1) as stable,
        run_model_server(version="v2", seed=2) as candidate,
        run_nginx(stable_url=stable.url, candidate_url=candidate.url) as nginx,
    ):
        before = nginx.weights_path.read_bytes()
        with pytest.raises(ProviderRejected, match="cannot mirror traffic"):
            await nginx.set_weights(0, mirror=True)
        assert nginx.weights_path.read_bytes() == before
