"""Safe upgrades (issue 24): a worker refuses to serve a namespace that lacks a search attribute it writes.

Without the check such a worker fails every workflow task that upserts the attribute, for every running rollout,
until someone registers it. The namespace here is a fresh one on the real dev server, set up with nothing.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client

from tests.servers import DevServer, register_search_attributes
from tests.workflows.helpers import wait_until
from workers.client import connect
from workers.settings import Settings
from workers.upgrade_check import NamespaceNotReady, check_namespace, missing_from
from workflows import search_attributes as sa

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_wrong_type_is_named_with_both_types() -> None:
    registered = {key.name: key.indexed_value_type.value for key in sa.ALL}
    registered[sa.OUTCOME.name] = 1  # Text
    missing = missing_from(registered)
    assert [m.name for m in missing] == [sa.OUTCOME.name]
    assert "registered as Text" in missing[0].describe("ns") and "Keyword" in missing[0].describe("ns")
    assert missing_from({key.name: key.indexed_value_type.value for key in sa.ALL}) == []


async def fresh_namespace(client: Client, address: str) -> str:
    name = f"upgrade-{uuid.uuid4().hex[:8]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=name, workflow_execution_retention_period=Duration(seconds=86400))
    )

    async def ready() -> bool:
        try:
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=name))
            await (await connect(Settings(address=address, namespace=name))).count_workflows()
        except Exception:
            return False
        return True

    await wait_until(ready, what=f"namespace {name}", timeout=30)
    return name


async def test_the_worker_refuses_a_namespace_without_our_attributes_and_names_each(
    client: Client, temporal_dev: DevServer
) -> None:
    namespace = await fresh_namespace(client, temporal_dev.address)
    env = {**os.environ, "TEMPORAL_ADDRESS": temporal_dev.address, "TEMPORAL_NAMESPACE": namespace}
    env.pop("ROLLOUTS_POLICY_PATH", None)
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "workers"], cwd=ROOT, env=env, capture_output=True, timeout=60
    )
    said = done.stderr.decode()
    assert done.returncode == 3, said
    for key in sa.ALL:
        assert f"{key.name} ({sa.cli_type(key)}) is missing" in said
    assert f"temporal operator search-attribute create --namespace {namespace} --name {sa.OUTCOME.name}" in said

    scoped = await connect(Settings(address=temporal_dev.address, namespace=namespace))
    await register_search_attributes(scoped, namespace)

    async def accepted() -> bool:
        try:
            await check_namespace(scoped, namespace)
        except NamespaceNotReady:
            return False
        return True

    await wait_until(accepted, what="the registered namespace accepted", timeout=30)
