"""The cluster fixture: one real cluster (two history, two matching instances) for this folder's tests."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client

from tests.cluster.cluster import Cluster, running_cluster
from workers.client import connect
from workers.settings import Settings


@pytest.fixture(scope="session")
async def cluster() -> AsyncIterator[Cluster]:
    """A cluster in a short-named folder: PostgreSQL's socket path must stay under 108 bytes."""
    with tempfile.TemporaryDirectory(prefix="cluster-") as state:
        from pathlib import Path

        async with running_cluster(Path(state)) as running:
            yield running


@pytest.fixture(scope="session")
async def cluster_client(cluster: Cluster) -> Client:
    """A client of the cluster's frontend, wired like production."""
    return await connect(Settings(address=cluster.address))
