"""The release hook: the operators' endpoint that releases the old version once a watched promotion has passed.

A watch keeps stable routable so a failure can switch back at once; when the watch ends without a failure, the
old version is no longer needed, and the operators' own system (a scale-down endpoint, a deployment controller)
frees it. The hook belongs to the operators, like a target's router: the policy's target names its URL, and a spec
can neither add nor change it. The rollout calls it once the outcome is decided, so a hook that fails costs the
old version's resources and a line in the record, never the promotion.

Pure models, no I/O; ``activities.release`` sends the request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.limits import MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_URL_CHARS

MAX_RELEASE_ERROR_CHARS = 300
"""The failure kept in the record: enough for an HTTP status and a reason, never a whole response body."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ReleaseHook(_Model):
    """Where a target's old version is released: a POST with the service and both versions, idempotent."""

    url: str = Field(
        max_length=MAX_URL_CHARS,
        pattern=r"^https?://[^\s@]+$",
        description="The operators' endpoint (http or https, no user information) that scales the old version "
        "down; it receives a JSON body and an Idempotency-Key header, and answers 2xx once it has taken the job.",
    )


class ReleaseInput(_Model):
    """One release request: which service, which version to free, which one now serves, and the key for retries."""

    hook: ReleaseHook
    service: str = Field(max_length=MAX_NAME_CHARS)
    released_version: str = Field(max_length=MAX_NAME_CHARS, description="The old version, to scale down.")
    serving_version: str = Field(max_length=MAX_NAME_CHARS, description="The version now serving 100%.")
    rollout_id: str = Field(max_length=MAX_DESCRIPTION_CHARS, description="The workflow id, for the receiver's log.")
    idempotency_key: str = Field(max_length=MAX_DESCRIPTION_CHARS, description="The same for every attempt.")


class ReleaseResult(_Model):
    """The hook's answer: its HTTP status (2xx)."""

    status: int


class ReleaseReport(_Model):
    """What the record keeps of the release: the version, the outcome and, when it failed, why."""

    released_version: str = Field(max_length=MAX_NAME_CHARS)
    outcome: Literal["released", "failed"]
    status: int | None = Field(default=None, description="The hook's HTTP status when it answered 2xx.")
    error: str | None = Field(
        default=None, max_length=MAX_RELEASE_ERROR_CHARS, description="Why the release failed, after its retries."
    )
    at: datetime = Field(description="When the outcome was known.")
