"""Knobs that shape a simulated version's behaviour, validated so a typo in a test fails loudly.

Tests turn these knobs mid-run (e.g. make the candidate regress after the first step), so updates are partial
and re-validated as a whole: a partial update that would leave ``latency_p95_ms`` below ``latency_p50_ms`` is
refused instead of producing a nonsense distribution.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class VersionKnobs(BaseModel):
    """How one version behaves: errors, latency, answer quality and agreement with stable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    error_rate: float = Field(default=0.01, ge=0, le=1, description="Share of requests that fail with a 500.")
    latency_p50_ms: float = Field(default=120.0, gt=0, description="Median of the lognormal latency.")
    latency_p95_ms: float = Field(default=300.0, gt=0, description="95th percentile of the lognormal latency.")
    quality_mean: float = Field(default=0.85, ge=0, le=1, description="Mean of the per-response score before clipping.")
    quality_sd: float = Field(default=0.1, ge=0, le=1, description="Spread of the per-response score before clipping.")
    disagreement: float = Field(
        default=0.0, ge=0, le=1, description="Share of answers that differ from stable's (selected by request hash)."
    )
    input_shift: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Share of this version's requests drawn from a shifted population (longer prompts, mostly "
        "Japanese; simulator/inputs.py): a canary that sees other users than stable.",
    )
    serve_delay_ms: float = Field(
        default=1.0, ge=0, le=10_000, description="Real delay of the answer ports; small so shadow replays stay fast."
    )
    events: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")], Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=dict,
        max_length=16,
        description="Share of requests that emit each named event (critical_errors, complaints...), reported as "
        'custom metrics in the counters\' answer: {"critical_errors": 0.001}. Replaced as a whole by an update.',
    )

    @model_validator(mode="after")
    def _p95_not_below_p50(self) -> VersionKnobs:
        if self.latency_p95_ms < self.latency_p50_ms:
            raise ValueError("latency_p95_ms must be >= latency_p50_ms")
        return self

    def updated(self, patch: dict[str, Any]) -> VersionKnobs:
        """Apply a partial update, validating the result as a whole.

        Raises:
            pydantic.ValidationError: unknown knob or invalid resulting combination.
        """
        return VersionKnobs.model_validate({**self.model_dump(), **patch})


class GlobalKnobs(BaseModel):
    """Knobs of the synthetic traffic that are not tied to one version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rps: float = Field(default=200.0, ge=0, le=10_000_000, description="Modelled requests per second per service.")

    def updated(self, patch: dict[str, Any]) -> GlobalKnobs:
        """Apply a partial update, validating the result as a whole."""
        return GlobalKnobs.model_validate({**self.model_dump(), **patch})


class KnobsFile(BaseModel):
    """Initial knobs, as given with ``--knobs`` or ``run_simulator(knobs=...)``.

    Shape: ``{"rps": 200, "versions": {"v2": {"error_rate": 0.05}}}``. For convenience the versions may also be
    given at the top level (``{"rps": 200, "v2": {...}}``), and ``"stable"`` / ``"candidate"`` may stand for the
    version names, so a test need not repeat them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rps: float | None = None
    versions: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _hoist_top_level_versions(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        versions = dict(data.get("versions") or {})
        rest: dict[str, Any] = {}
        for key, value in data.items():
            if key in {"rps", "versions"}:
                rest[key] = value
            else:
                versions[key] = value
        return {**rest, "versions": versions}

    @classmethod
    def load(cls, path: Path) -> KnobsFile:
        """Read and validate a knobs JSON file."""
        return cls.model_validate(json.loads(path.read_text()))


def validation_message(exc: ValidationError) -> str:
    """A one-line summary of a pydantic error for a JSON 400 body."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors())
