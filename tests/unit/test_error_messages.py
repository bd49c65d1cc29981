"""Errors a person can act on: a refused connection is called that, and a shadow with nothing to compare says why."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from activities.errors import ProviderUnavailable
from activities.http_errors import provider_call, transport_problem
from activities.shadow import run_shadow
from models.activities import ShadowInput
from models.spec import ShadowSpec

STABLE = "http://127.0.0.1:9101/answer"
CANDIDATE = "http://127.0.0.1:9102/answer"


def refused(url: str) -> httpx.ConnectError:
    return httpx.ConnectError("All connection attempts failed", request=httpx.Request("POST", url))


def test_refused_connection_is_named_with_its_address() -> None:
    text = transport_problem(refused(CANDIDATE))
    assert text.startswith(f"connection refused at {CANDIDATE}: is anything listening there?")
    assert "ConnectError" in text


def test_timeout_and_other_transport_errors() -> None:
    timeout = httpx.ReadTimeout("timed out", request=httpx.Request("GET", STABLE))
    assert transport_problem(timeout).startswith(f"no answer in time at {STABLE}")
    assert transport_problem(httpx.RemoteProtocolError("bad")) == "RemoteProtocolError: bad"


async def test_provider_call_says_connection_refused() -> None:
    with pytest.raises(ProviderUnavailable, match=r"^metrics GET x: connection refused at http://127\.0\.0\.1:9102"):
        async with provider_call("metrics GET x"):
            raise refused(CANDIDATE)


def shadow_input(tmp_path: Path) -> ShadowInput:
    requests = tmp_path / "requests.jsonl"
    requests.write_text('{"q": 1}\n{"q": 2}\n{"q": 3}\n')
    return ShadowInput(
        shadow=ShadowSpec(requests_file=str(requests), max_requests=3),
        stable_endpoint=STABLE,
        candidate_endpoint=CANDIDATE,
    )


async def test_shadow_against_a_closed_port_says_connection_refused(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == CANDIDATE:
            raise refused(CANDIDATE)
        return httpx.Response(200, json={"answer": "a"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(ProviderUnavailable) as info:
            await run_shadow(shadow_input(tmp_path), http)
    message = str(info.value)
    assert message.startswith("shadow: the candidate endpoint answered none of 3 requests: connection refused at")
    assert "stable endpoint" not in message


async def test_shadow_with_some_answers_compares_them(tmp_path: Path) -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == CANDIDATE:
            calls["n"] += 1
            if calls["n"] == 1:
                return httpx.Response(503)
        return httpx.Response(200, json={"answer": "a"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        result = await run_shadow(shadow_input(tmp_path), http)
    assert result.candidate.errors == 1 and result.compared == 2 and result.agreed == 2
