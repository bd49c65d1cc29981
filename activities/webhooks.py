"""Webhook bodies and their signature: pure functions, shared by the notification activity and its tests.

Two formats. ``slack``: ``{"text": ...}``, which Slack's incoming webhooks (and Mattermost, Teams' Slack-compatible
connectors) post as a message. ``json``: the whole event. Either may be signed; a ``json`` webhook always is:

    X-Rollouts-Timestamp: <unix seconds when this attempt was sent>
    X-Rollouts-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
    X-Rollouts-Idempotency-Key: <workflow id>:<event sequence>

The timestamp is inside the signed text, so a receiver that refuses timestamps older than ``REPLAY_WINDOW``
refuses a captured request replayed later; the idempotency key, the same on every retry of one event, lets it
drop a second delivery of an event it has already handled (a retry after a lost answer).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Literal

from models.notifications import NotificationEvent

REPLAY_WINDOW = 300
"""Seconds a receiver should accept a signed request for (either way, for clock skew): 5 minutes, as Stripe and
Slack use. Each attempt is signed when it is sent, so retries stay inside it."""
SIGNATURE_HEADER = "X-Rollouts-Signature"
TIMESTAMP_HEADER = "X-Rollouts-Timestamp"
IDEMPOTENCY_HEADER = "X-Rollouts-Idempotency-Key"
EVENT_HEADER = "X-Rollouts-Event"


def text_of(event: NotificationEvent) -> str:
    """The event as a chat message: service and versions, what happened, what to do, which rollout."""
    if event.kind == "drill":
        lines = [f"*{event.service}* rollback drill: {event.title}"]
    else:
        lines = [f"*{event.service}* {event.stable_version} -> {event.candidate_version}: {event.title}"]
    if event.detail:
        lines.append(event.detail)
    command = event.data.get("command")
    if event.kind == "approval_requested" and command:
        deadline = event.data.get("deadline") or "no deadline"
        lines.append(f"Approve before {deadline}: `{command}`")
    what = "drill" if event.kind == "drill" else "rollout"
    lines.append(f"{what} `{event.rollout_id}` (event {event.sequence})")
    return "\n".join(lines)


def json_body(event: NotificationEvent) -> bytes:
    """The whole event with its idempotency key, as compact JSON with sorted keys (stable bytes to sign)."""
    document = {"idempotency_key": event.idempotency_key, **event.model_dump(mode="json")}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def slack_body(event: NotificationEvent) -> bytes:
    """A Slack-compatible body: one ``text`` field, Slack's mrkdwn."""
    return json.dumps({"text": text_of(event)}, separators=(",", ":")).encode()


def body_for(kind: Literal["slack", "json"], event: NotificationEvent) -> bytes:
    """The request body a webhook of format ``kind`` receives."""
    return slack_body(event) if kind == "slack" else json_body(event)


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``timestamp + "." + body``."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def headers_for(event: NotificationEvent, body: bytes, *, secret: bytes | None, timestamp: int) -> dict[str, str]:
    """Every header of one attempt: content type, event kind, idempotency key and, with a secret, the signature."""
    headers = {
        "Content-Type": "application/json",
        EVENT_HEADER: event.kind,
        IDEMPOTENCY_HEADER: event.idempotency_key,
    }
    if secret is not None:
        headers[TIMESTAMP_HEADER] = str(timestamp)
        headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    return headers


def verify(
    secret: bytes, *, timestamp: str, signature_header: str, body: bytes, now: float, window: int = REPLAY_WINDOW
) -> bool:
    """What a receiver checks: a fresh timestamp and a signature that matches, compared in constant time."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > window:
        return False
    return hmac.compare_digest(signature(secret, sent, body), signature_header)
