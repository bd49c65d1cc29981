"""workflows.search_attributes.cli_flags: the --search-attribute flags for the dev server."""

from __future__ import annotations

from temporalio.common import SearchAttributeIndexedValueType

from workflows import search_attributes
from workflows import search_attributes as sa


def test_cli_flags_list_every_key_with_its_type() -> None:
    assert search_attributes.cli_flags() == [
        "--search-attribute",
        "RolloutService=Keyword",
        "--search-attribute",
        "RolloutCandidateVersion=Keyword",
        "--search-attribute",
        "RolloutPhase=Keyword",
        "--search-attribute",
        "RolloutCandidateWeight=Double",
        "--search-attribute",
        "RolloutOutcome=Keyword",
        "--search-attribute",
        "DrillOutcome=Keyword",
        "--search-attribute",
        "DrillSecondsToStable=Double",
    ]


def test_cli_flags_cover_all_keys_as_pairs() -> None:
    flags = search_attributes.cli_flags()
    assert flags[0::2] == ["--search-attribute"] * len(search_attributes.ALL)
    names = [value.split("=")[0] for value in flags[1::2]]
    assert names == [key.name for key in search_attributes.ALL]
    assert len(set(names)) == len(names)


def test_key_types() -> None:
    assert search_attributes.WEIGHT.indexed_value_type is SearchAttributeIndexedValueType.DOUBLE
    for key in (sa.SERVICE, sa.CANDIDATE_VERSION, sa.PHASE, sa.OUTCOME):
        assert key.indexed_value_type is SearchAttributeIndexedValueType.KEYWORD
