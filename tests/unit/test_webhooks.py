"""The pure parts of notifications: webhook validation, bodies, signatures, the activity's HTTP mapping, and the
recovery rule."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notify import NotifyActivities
from activities.webhooks import (
    IDEMPOTENCY_HEADER,
    REPLAY_WINDOW,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    body_for,
    headers_for,
    signature,
    verify,
)
from models.counters import Counters
from models.notifications import NotificationEvent, NotifyInput, Webhook
from models.policy import RecoveryPolicy, ServicePolicy
from models.validation import SpecError, validate_spec
from workflows import recovery

SECRET = b"s3cret"
COMMAND = "rollouts approve rollout-chat --key K"


def event(kind: str = "approval_requested", sequence: int = 3, **data: Any) -> NotificationEvent:
    return NotificationEvent.model_validate(
        {
            "kind": kind,
            "rollout_id": "rollout-chat",
            "sequence": sequence,
            "service": "chat",
            "stable_version": "v1",
            "candidate_version": "v2",
            "phase": "awaiting_approval",
            "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            "title": "step 1 waits for approval",
            "data": data
            or {"deadline": "2026-01-02T04:00:00+00:00", "command": "rollouts approve rollout-chat --key K"},
        }
    )


def test_the_idempotency_key_is_the_workflow_id_and_the_sequence() -> None:
    assert event().idempotency_key == "rollout-chat:3"
    assert event(sequence=4).idempotency_key != event().idempotency_key


def test_the_slack_body_is_one_text_field_with_the_approval_command() -> None:
    body = json.loads(body_for("slack", event()))
    assert list(body) == ["text"]
    assert "*chat* v1 -> v2: step 1 waits for approval" in body["text"]
    assert "`rollouts approve rollout-chat --key K`" in body["text"]
    assert "2026-01-02T04:00:00+00:00" in body["text"]


def test_the_json_body_is_the_whole_event_with_stable_bytes() -> None:
    body = body_for("json", event())
    assert body == body_for("json", event()), "the same event signs the same bytes"
    document = json.loads(body)
    assert document["idempotency_key"] == "rollout-chat:3"
    assert document["kind"] == "approval_requested" and document["data"]["command"].startswith("rollouts approve")


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(SECRET, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature(SECRET, 1_700_000_000, body) == "sha256=" + expected
    headers = headers_for(event(), body, secret=SECRET, timestamp=1_700_000_000)
    assert headers[TIMESTAMP_HEADER] == "1700000000" and headers[SIGNATURE_HEADER] == "sha256=" + expected
    assert headers[IDEMPOTENCY_HEADER] == "rollout-chat:3"
    assert SIGNATURE_HEADER not in headers_for(event(), body, secret=None, timestamp=1)


@pytest.mark.parametrize(
    ("age", "tamper", "ok"),
    [(0, False, True), (REPLAY_WINDOW, False, True), (REPLAY_WINDOW + 1, False, False), (0, True, False)],
    ids=["fresh", "at-window", "replayed-late", "tampered"],
)
def test_a_receiver_verifies_freshness_and_the_mac(age: int, tamper: bool, ok: bool) -> None:
    body = body_for("json", event())
    sig = signature(SECRET, 1_700_000_000, body)
    sent = body + b" " if tamper else body
    assert verify(SECRET, timestamp="1700000000", signature_header=sig, body=sent, now=1_700_000_000 + age) is ok


def test_verify_refuses_a_timestamp_that_is_not_a_number() -> None:
    assert not verify(SECRET, timestamp="soon", signature_header="sha256=00", body=b"", now=0)


@pytest.mark.parametrize(
    ("hook", "problem"),
    [
        ({"format": "json", "secret_env": "S"}, "exactly one of url and url_env"),
        ({"url": "http://a/h", "url_env": "U", "secret_env": "S"}, "exactly one of url and url_env"),
        ({"url": "http://a/h", "format": "json"}, "set secret_env"),
        ({"url": "ftp://a/h", "format": "slack"}, "pattern"),
        ({"url": "http://user:pw@a/h", "format": "slack"}, "pattern"),
        ({"url": "http://a/" + "x" * 2100, "format": "slack"}, "at most 2048"),
        ({"url": "http://a/h", "format": "slack", "secret_env": "not-an-env"}, "pattern"),
        ({"url": "http://a/h", "format": "slack", "events": ["everything"]}, "literal"),
        ({"url": "http://a/h", "format": "slack", "attempts": 50}, "less than or equal"),
    ],
)
def test_a_webhook_is_bounded_and_signed_json_needs_a_secret(hook: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Webhook.model_validate(hook)


def test_a_policy_holds_at_most_five_webhooks() -> None:
    hook = {"url": "http://a/h", "format": "slack"}
    ServicePolicy.model_validate({"notifications": [hook] * 5})
    with pytest.raises(ValidationError, match="at most 5"):
        ServicePolicy.model_validate({"notifications": [hook] * 6})


def test_an_empty_event_filter_takes_every_kind() -> None:
    every = Webhook.model_validate({"url": "http://a/h", "format": "slack"})
    some = Webhook.model_validate({"url": "http://a/h", "format": "slack", "events": ["recovery"]})
    assert every.wants("phase") and some.wants("recovery") and not some.wants("phase")


# ------------------------------------------------------------------ the activity, on httpx.MockTransport


async def send(
    hook: dict[str, Any], status: int | None, environ: dict[str, str]
) -> tuple[list[httpx.Request], ApplicationError | None]:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if status is None:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(status)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        activities = NotifyActivities(http, environ=environ, clock=lambda: 1_700_000_000.0)
        request = NotifyInput(webhook=Webhook.model_validate(hook), event=event())
        try:
            await ActivityEnvironment().run(activities.send_notification, request)
        except ApplicationError as exc:
            return seen, exc
    return seen, None


async def test_the_activity_posts_the_signed_body_and_reads_secrets_from_the_environment() -> None:
    seen, failed = await send(
        {"url_env": "HOOK_URL", "format": "json", "secret_env": "HOOK_SECRET"},
        200,
        {"HOOK_URL": "https://hooks.example/T0/B0/xyz", "HOOK_SECRET": "s3cret"},
    )
    assert failed is None and len(seen) == 1
    sent = seen[0]
    assert str(sent.url) == "https://hooks.example/T0/B0/xyz"
    assert verify(
        SECRET,
        timestamp=sent.headers[TIMESTAMP_HEADER],
        signature_header=sent.headers[SIGNATURE_HEADER],
        body=sent.content,
        now=1_700_000_000,
    )


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(None, True), (500, True), (503, True), (429, True), (408, True), (400, False), (404, False)],
)
async def test_the_activity_retries_what_may_pass_and_never_names_a_secret_url(
    status: int | None, retryable: bool
) -> None:
    _, failed = await send(
        {"url_env": "HOOK_URL", "format": "slack"}, status, {"HOOK_URL": "https://hooks.example/T0/B0/secret-token"}
    )
    assert failed is not None and failed.non_retryable is not retryable
    assert "secret-token" not in str(failed) and "$HOOK_URL" in str(failed)


async def test_a_missing_variable_is_a_final_failure_naming_it() -> None:
    seen, failed = await send({"url": "http://a/h", "format": "json", "secret_env": "HOOK_SECRET"}, 200, {})
    assert seen == [] and failed is not None and failed.non_retryable
    assert "HOOK_SECRET is not set on the worker" in str(failed)


# ------------------------------------------------------------------ the recovery rule


def counters(requests: int, errors: int, p95_bucket: int = 300) -> Counters:
    """``requests`` with ``errors``; 95% of them at or below ``p95_bucket`` ms, all below 1000 ms."""
    at_bucket = int(requests * 0.95)
    buckets = [(100.0, 0), (float(p95_bucket), at_bucket), (1000.0, requests), (float("inf"), requests)]
    return Counters(requests=requests, errors=errors, latency_ms_buckets=sorted(buckets))


POLICY = RecoveryPolicy(min_requests=1000)


def test_stable_back_at_its_baseline_has_recovered() -> None:
    baseline = counters(100_000, 1_000)
    since = counters(200_000, 2_000)
    found = recovery.check(baseline, since, counters(210_000, 2_100), POLICY)
    assert found.recovered and found.enough and "error rate 0.01 <=" in found.line


def test_stable_still_failing_has_not_recovered() -> None:
    baseline = counters(100_000, 1_000)
    found = recovery.check(baseline, counters(200_000, 2_000), counters(210_000, 5_000), POLICY)
    assert not found.recovered and found.enough and "error rate 0.3 >" in found.line


def test_better_than_the_baseline_is_recovered_one_sided() -> None:
    baseline = counters(100_000, 5_000)
    assert recovery.check(baseline, counters(100_000, 5_000), counters(110_000, 5_000), POLICY).recovered


def test_the_margin_makes_a_zero_error_baseline_reachable() -> None:
    baseline = counters(100_000, 0)
    assert recovery.check(baseline, counters(100_000, 0), counters(110_000, 10), POLICY).recovered  # 0.1%
    assert not recovery.check(baseline, counters(100_000, 0), counters(110_000, 100), POLICY).recovered  # 1%


def test_too_few_requests_give_no_verdict() -> None:
    found = recovery.check(counters(100_000, 1_000), counters(100_000, 1_000), counters(100_500, 1_005), POLICY)
    assert not found.recovered and not found.enough


def test_no_baseline_gives_no_verdict() -> None:
    assert recovery.baseline_rates(Counters(requests=0, errors=0)) is None
    assert not recovery.check(Counters(requests=0, errors=0), counters(1, 0), counters(5000, 0), POLICY).enough


def test_slower_stable_has_not_recovered() -> None:
    baseline = counters(100_000, 1_000)
    since = counters(200_000, 2_000)
    # the window's requests all land between 300 and 1000 ms: p95 far above the baseline's 300
    slow = Counters(
        requests=210_000,
        errors=2_100,
        latency_ms_buckets=[(100.0, 0), (300.0, 190_000), (1000.0, 210_000), (float("inf"), 210_000)],
    )
    found = recovery.check(baseline, since, slow, POLICY)
    assert not found.recovered and "p95" in found.line and ">" in found.line.split("p95")[1]


def test_the_watch_is_bounded() -> None:
    with pytest.raises(ValidationError, match="between 1s and 1h"):
        RecoveryPolicy.model_validate({"watch": "2h"})


def test_a_spec_cannot_carry_webhooks_or_a_recovery_rule() -> None:
    """Both are the operators' (the policy's): a spec that tries is refused, naming the field."""
    spec = {
        "service": "chat",
        "requested_by": "alice",
        "stable": {"version": "v1"},
        "candidate": {"version": "v2"},
        "target": "production",
        "notifications": [{"url": "http://attacker.example/h", "format": "slack"}],
        "recovery": {"watch": "1s"},
    }
    with pytest.raises(SpecError) as refused:
        validate_spec(spec)
    problems = "\n".join(refused.value.problems)
    assert "notifications" in problems and "recovery" in problems
