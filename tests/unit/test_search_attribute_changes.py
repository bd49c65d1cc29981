"""``view.changed``: an upsert names only the attributes whose values it changes (``lean-history``, ADR 42)."""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributePair, SearchAttributeUpdate, TypedSearchAttributes

from workflows import search_attributes as sa
from workflows.rollout import view


def test_only_changed_values_are_upserted() -> None:
    current = TypedSearchAttributes([SearchAttributePair(sa.PHASE, "canary"), SearchAttributePair(sa.WEIGHT, 10.0)])
    updates: list[SearchAttributeUpdate[Any]] = [
        sa.PHASE.value_set("canary"),
        sa.WEIGHT.value_set(50.0),
        sa.SERVICE.value_set("chat"),
    ]
    assert [u.key.name for u in view.changed(updates, current)] == [sa.WEIGHT.name, sa.SERVICE.name]


def test_nothing_changed_is_no_upsert() -> None:
    current = TypedSearchAttributes([SearchAttributePair(sa.PHASE, "canary")])
    assert view.changed([sa.PHASE.value_set("canary")], current) == []


def test_an_unset_of_an_absent_attribute_is_no_upsert() -> None:
    assert view.changed([sa.OUTCOME.value_unset()], TypedSearchAttributes.empty) == []
