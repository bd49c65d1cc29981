"""A state carried across continue-as-new by an older release is accepted by this one.

The next run checks the digest the previous run wrote over the state's JSON (``carried_refusal``). A field added
later that appears in the JSON at its default would change the digest of every state an older release carried,
and every long rollout that continued as new across the upgrade would be refused. So fields added to the state
(and to what it holds: the record, counters, criteria) stay out of the JSON while at their default. The fixture
was written by ``tests/unit/carried_state_fixture.py`` at b882b63, the first release with the digest.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.carried_state_fixture import build
from workflows.rollout.state import RolloutState, state_digest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_a_state_carried_by_the_first_release_with_a_digest_keeps_its_digest() -> None:
    written = json.loads((FIXTURES / "carried-state-b882b63.json").read_text())
    state = RolloutState.model_validate(written["state"])
    assert state_digest(state) == written["digest"]


def test_the_same_state_built_today_has_the_old_digest() -> None:
    written = json.loads((FIXTURES / "carried-state-b882b63.json").read_text())
    assert state_digest(build()) == written["digest"], "a new field appears in the JSON at its default"
