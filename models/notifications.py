"""Notifications: the operators' webhooks (in the policy, per service) and the events a rollout sends them.

A webhook belongs to the operators, as a target does: the policy file names its URL (or the worker environment
variable holding it) and the worker environment variable holding its HMAC secret. A spec can neither add one nor
change one, so the worker never calls an address a requester chose. Secrets never appear in the policy, the
workflow history or the record: only the names of the variables do.

Pure models, no I/O; the bodies and the signature are built in ``activities.webhooks``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.limits import MAX_DESCRIPTION_CHARS, MAX_URL_CHARS

EventKind = Literal["phase", "approval_requested", "held", "rollback", "recovery", "drill"]
"""What a notification is about: a phase change (one that none of the other kinds covers), a step waiting for
approvals, a step held on inconclusive evidence, a rollback with its cause, the recovery check's verdict, a
rollback drill that failed or was slower than its target (docs/drills.md)."""
EVENT_KINDS: tuple[EventKind, ...] = ("phase", "approval_requested", "held", "rollback", "recovery", "drill")

MAX_WEBHOOKS = 5
"""Most webhooks per service: a chat channel, an incident tool, an audit sink; each event is one delivery each."""
MAX_DATA_ENTRIES = 16
"""Fields of an event's ``data``: the workflow builds them, the bound keeps a body small whatever changes."""

EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,127}$")]
"""The name of an environment variable on the worker (upper case, digits, underscores)."""


class Webhook(BaseModel):
    """One receiver of a service's notifications, as the operators define it in the policy."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    url: str | None = Field(
        default=None,
        max_length=MAX_URL_CHARS,
        pattern=r"^https?://[^\s@]+$",
        description="Where to POST (http or https, no user information). Null: url_env names it. A Slack "
        "incoming-webhook URL is itself a secret: give it with url_env so it stays out of the history.",
    )
    url_env: EnvName | None = Field(
        default=None, description="The worker's environment variable holding the URL, read when sending."
    )
    format: Literal["slack", "json"] = Field(
        default="json",
        description='"slack": a Slack-compatible {"text": ...} body; "json": the whole event, signed.',
    )
    secret_env: EnvName | None = Field(
        default=None,
        description="The worker's environment variable holding the HMAC-SHA256 secret (never the secret itself). "
        "Required for json; optional for slack (the headers are added when it is set).",
    )
    events: list[EventKind] = Field(
        default_factory=list,
        max_length=len(EVENT_KINDS),
        description="Event kinds this receiver wants: phase, approval_requested, held, rollback, recovery, drill. "
        "Empty: all of them.",
    )
    attempts: int = Field(
        default=5,
        ge=1,
        le=10,
        description="Delivery attempts per event (2s, then 3x longer each time: 5 attempts span about 80s).",
    )

    @model_validator(mode="after")
    def _one_address_and_signed_json(self) -> Webhook:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url and url_env")
        if self.format == "json" and self.secret_env is None:
            raise ValueError("a json webhook is signed: set secret_env")
        return self

    def wants(self, kind: EventKind) -> bool:
        """Whether this receiver takes events of ``kind``."""
        return not self.events or kind in self.events

    def where(self) -> str:
        """The receiver as a log line may show it: a URL given by variable is shown by the variable's name."""
        return self.url if self.url is not None else f"${self.url_env}"


class NotificationEvent(BaseModel):
    """One thing a rollout tells the operators, the same for every receiver; the sequence makes it unique."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: EventKind
    rollout_id: str = Field(description="The workflow id (a drill's, for a drill event).")
    sequence: int = Field(ge=1, description="1 for the rollout's first event, then one more for each.")
    service: str
    stable_version: str = Field(description="Empty for a drill event: a drill moves no version.")
    candidate_version: str = Field(description="Empty for a drill event.")
    phase: str = Field(description="The rollout's phase when the event happened.")
    at: datetime
    title: str = Field(max_length=200, description="One line, for a chat message.")
    detail: str = Field(default="", max_length=MAX_DESCRIPTION_CHARS)
    data: dict[str, Any] = Field(
        default_factory=dict, max_length=MAX_DATA_ENTRIES, description="Fields particular to the kind."
    )

    @property
    def idempotency_key(self) -> str:
        """Same for every attempt at one event, different for every event: ``<workflow id>:<sequence>``."""
        return f"{self.rollout_id}:{self.sequence}"


class NotifyInput(BaseModel):
    """Input of ``send_notification``: one event to one receiver."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook: Webhook
    event: NotificationEvent


class NotifyResult(BaseModel):
    """Output of ``send_notification``: the receiver's status code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: int
