"""The pure parts of the ``haproxy`` router: percent <-> weights, the state dump, the backend it expects."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from activities.routers.haproxy import StateFileError, backend_section, shares, state_weights, weights
from models.activities import RouterState
from models.spec import HaproxyRouter
from models.validation import validate_spec

DUMP = (
    "1\n"
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight\n"
    "3 rollout 1 stable 127.0.0.1 2 0 150 200\n"
    "3 rollout 2 candidate 127.0.0.1 2 0 50 0\n"
    "4 other 1 stable 127.0.0.1 2 0 7 200\n"
)


def spec(**fields: object) -> HaproxyRouter:
    return HaproxyRouter.model_validate(
        {"kind": "haproxy", "socket_path": "/run/haproxy/admin.sock", "state_file": "/var/lib/h/r.state", **fields}
    )


@given(st.integers(min_value=0, max_value=200))
def test_every_half_percent_round_trips_exactly(halves: int) -> None:
    want = RouterState(stable=100 - halves / 2, candidate=halves / 2)
    stable, candidate = weights(want)
    assert stable + candidate == 200
    assert 0 <= stable <= 256 and 0 <= candidate <= 256
    assert shares(stable, candidate) == want


@pytest.mark.parametrize("candidate", [33.3, 0.1, 100.5, -1.0])
def test_shares_finer_than_half_a_percent_or_outside_0_100_are_refused(candidate: float) -> None:
    with pytest.raises(ValueError, match="steps of 0"):
        weights(RouterState(stable=100 - candidate, candidate=candidate))


def test_shares_of_weights_set_by_someone_else() -> None:
    assert shares(1, 2).candidate == pytest.approx(200 / 3)
    assert shares(0, 0) == RouterState(stable=0.0, candidate=0.0)


def test_state_dump_gives_the_backends_two_weights() -> None:
    assert state_weights(DUMP, "rollout", ("stable", "candidate")) == (150, 50)
    with pytest.raises(StateFileError, match="rollout/canary"):
        state_weights(DUMP, "rollout", ("stable", "canary"))
    with pytest.raises(StateFileError, match="version 1"):
        state_weights("2\n" + DUMP[2:], "rollout", ("stable", "candidate"))


def test_backend_section_hashes_the_sticky_key_consistently() -> None:
    by_header = backend_section(spec(), stable="10.0.0.1:80", candidate="10.0.0.2:80")
    assert "balance hdr(X-User-Id)\n    hash-type consistent\n" in by_header
    assert "server-state-file-name /var/lib/h/r.state\n" in by_header
    assert "server candidate 10.0.0.2:80 weight 0\n" in by_header
    by_cookie = backend_section(spec(sticky={"by": "cookie", "name": "uid"}), stable="a:1", candidate="b:1")
    assert "balance hash req.cook(uid)\n" in by_cookie


@pytest.mark.parametrize(
    ("field", "value"),
    [("backend", "a;shutdown sessions"), ("candidate_server", "x\nset weight"), ("stable_server", "candidate")],
)
def test_names_that_could_smuggle_a_command_or_collide_are_refused(field: str, value: str) -> None:
    router = {"kind": "haproxy", "socket_path": "/s", "state_file": "/f", field: value}
    document = {
        "service": "svc",
        "requested_by": "alice",
        "stable": {"version": "v1"},
        "candidate": {"version": "v2"},
        "router": router,
        "metrics": {"kind": "http-json", "url": "http://127.0.0.1:1/m"},
    }
    with pytest.raises(ValueError, match="router"):
        validate_spec(document)
