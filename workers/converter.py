"""The project's data converter: pydantic's, plus one rule for payloads that cannot be decoded.

A workflow's untyped input (the rollout spec arrives as any JSON) that cannot be decoded (a binary or
``text/xml`` payload, broken JSON) would fail the workflow task forever inside the SDK: nobody can fix a task
by retrying it. Raised as an ``ApplicationError`` instead, it fails the workflow at once with a message the sender
can act on; input nested deeper than the spec allows is named by its field (pydantic's JSON reader gives up at a
few hundred levels, before the spec's own validation could say where). Typed payloads (activity results,
carried state) still fail loudly the ordinary way: those are ours, and a failure there is a bug or a version
skew to see, not input to refuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError, FailureError

from models.validation import SpecError, too_deep

UNDECODABLE_INPUT = "InvalidRolloutSpec"
"""The failure type of an undecodable untyped input: the rollout spec is the only one this worker takes."""


class LenientInputPayloadConverter(PydanticPayloadConverter):
    """Pydantic's converter; an untyped payload that cannot be decoded becomes a non-retryable failure."""

    def from_payloads(self, payloads: Sequence[Payload], type_hints: list[type] | None = None) -> list[Any]:
        """Decode as pydantic does; see the module docstring for the one difference."""
        try:
            return super().from_payloads(payloads, type_hints)
        except FailureError:
            raise
        except Exception as exc:
            if type_hints and all(hint is not None and hint is not Any for hint in type_hints):
                raise
            deep = [too_deep(p.data) for p in payloads if p.metadata.get("encoding") == b"json/plain"]
            if problems := [problem for problem in deep if problem is not None]:
                refused = SpecError(problems)
                raise ApplicationError(
                    refused.args[0], {"problems": refused.problems}, type=UNDECODABLE_INPUT, non_retryable=True
                ) from None
            encodings = sorted({p.metadata.get("encoding", b"none").decode("utf-8", "replace")[:40] for p in payloads})
            raise ApplicationError(
                f"invalid rollout spec: the input could not be decoded (encoding {', '.join(encodings)}: "
                f"{str(exc)[:160]}); send the spec as a JSON object",
                type=UNDECODABLE_INPUT,
                non_retryable=True,
            ) from None


data_converter = DataConverter(payload_converter_class=LenientInputPayloadConverter)
"""What every client and worker of this project uses."""
