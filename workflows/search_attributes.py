"""Custom search attributes that make the Temporal UI's workflow list readable without opening payloads.

The same definitions register the attributes on the dev server (``make run``), in the test fixtures and in the
upserts the workflow makes, so a name cannot drift between them. ``python -m workflows.search_attributes``
prints the ``--search-attribute`` flags for ``temporal server start-dev``.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey

SERVICE = SearchAttributeKey.for_keyword("RolloutService")
CANDIDATE_VERSION = SearchAttributeKey.for_keyword("RolloutCandidateVersion")
PHASE = SearchAttributeKey.for_keyword("RolloutPhase")
WEIGHT = SearchAttributeKey.for_float("RolloutCandidateWeight")
OUTCOME = SearchAttributeKey.for_keyword("RolloutOutcome")
"""running, promoted, rolled_back, rolled_back_not_recovered (stable did not come back to its baseline after the
rollback: a person must act), cancelled, failed, lease_conflict or invalid_spec: a rolled-back rollout closes as
Completed (ADR 15), so the list shows how it ended in this column."""

DRILL_OUTCOME = SearchAttributeKey.for_keyword("DrillOutcome")
"""A ``RollbackDrill``'s outcome: running, passed, slow, failed, refused or invalid (docs/drills.md)."""
DRILL_SECONDS = SearchAttributeKey.for_float("DrillSecondsToStable")
"""A drill's time from the rollback call to verified stable, in seconds: sortable in the list."""

ALL = (SERVICE, CANDIDATE_VERSION, PHASE, WEIGHT, OUTCOME, DRILL_OUTCOME, DRILL_SECONDS)

_CLI_TYPE = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
}


def cli_type(key: SearchAttributeKey[Any]) -> str:
    """The type's name as the Temporal CLI spells it (``Keyword``, ``Double``)."""
    return _CLI_TYPE[key.indexed_value_type]


def cli_flags() -> list[str]:
    """``--search-attribute NAME=Type`` pairs for ``temporal server start-dev``."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={cli_type(key)}"]
    return flags


if __name__ == "__main__":
    print(" ".join(cli_flags()))
