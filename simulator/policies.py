"""Lab policies for the demo stand-ins: the operators' side of a rollout, written where a worker will read it.

A lab policy lets unsigned decisions count (each recorded as unverified) and names the stand-ins as targets, so
benchmarks and tests start rollouts the way production does: the spec names a target, the policy says what it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_lab_policy(path: Path, targets: dict[str, dict[str, Any]], **service_policy: Any) -> Path:
    """Write a ``default`` lab policy with ``targets`` (name -> target) to ``path``; return ``path``."""
    document = {"default": {"approvers": ["*"], "allow_unsigned": True, "targets": targets, **service_policy}}
    path.write_text(json.dumps(document, indent=2))
    return path
