"""Before serving, check that the namespace has every search attribute the workflows write.

An upsert of an attribute the namespace does not know fails the workflow task, and it fails again on every retry:
a worker of a new release (one that writes, say, ``RolloutOutcome``) started against a namespace set up for the
previous release would stall every running rollout until someone registered the attribute. So the worker asks
first and refuses to start, naming each missing attribute and the command that adds it (deploy/README.md, "Safe
upgrades"). A server that does not let the worker list attributes (a restricted API key) cannot be checked: the
worker says so and serves, as it did before this check.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workflows import search_attributes

log = structlog.get_logger("workers")


@dataclass(frozen=True)
class Missing:
    """One attribute the workflows write that the namespace lacks, or has with another type."""

    name: str
    want: str
    have: str | None

    def command(self, namespace: str) -> str:
        """The Temporal CLI command that registers it (a wrong type must be fixed by hand: no command renames)."""
        return (
            f"temporal operator search-attribute create --namespace {namespace} --name {self.name} --type {self.want}"
        )

    def describe(self, namespace: str) -> str:
        """One clause of the refusal: what is wrong with this attribute and what to run."""
        if self.have is None:
            return f"{self.name} ({self.want}) is missing: {self.command(namespace)}"
        return f"{self.name} is registered as {self.have}, the workflows write {self.want}: register it under its type"


class NamespaceNotReady(RuntimeError):
    """The namespace lacks attributes the workflows write: serving would fail every workflow task that upserts."""


def missing_from(registered: dict[str, int]) -> list[Missing]:
    """Pure: what ``search_attributes.ALL`` needs that ``registered`` (name -> IndexedValueType) does not give."""
    missing: list[Missing] = []
    for key in search_attributes.ALL:
        want = search_attributes.cli_type(key)
        have = registered.get(key.name)
        if have is None:
            missing.append(Missing(key.name, want, None))
        elif have != key.indexed_value_type.value:
            missing.append(
                Missing(
                    key.name,
                    want,
                    IndexedValueType.Name(IndexedValueType.ValueType(have)).removeprefix("INDEXED_VALUE_TYPE_").title(),
                )
            )
    return missing


async def check_namespace(client: Client, namespace: str) -> None:
    """Raise ``NamespaceNotReady`` naming every missing attribute; an unlistable namespace is logged, not refused."""
    try:
        listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    except RPCError as exc:
        if exc.status in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
            log.warning("search attributes not checked", namespace=namespace, error=str(exc))
            return
        raise
    missing = missing_from(dict(listed.custom_attributes))
    if missing:
        lines = "; ".join(m.describe(namespace) for m in missing)
        raise NamespaceNotReady(f"namespace {namespace!r} is not ready for this release: {lines}")
