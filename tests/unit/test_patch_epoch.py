"""The patch epochs list only real patches, and nothing a new run must not take.

When they were cut they listed every patch; a patch added later is asked on its own, so the checks are subsets.
"""

from __future__ import annotations

import ast
from pathlib import Path

from workflows.patch_epoch import LEASE_EPOCH, ROLLOUT_EPOCH

ROOT = Path(__file__).resolve().parents[2]


def _patch_constants(paths: list[Path]) -> dict[str, str]:
    """Every module-level ``NAME_PATCH = "id"`` in ``paths``: name -> id."""
    found: dict[str, str] = {}
    for path in paths:
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Constant):
                continue
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id.endswith("_PATCH") and isinstance(node.value.value, str):
                    found[target.id] = node.value.value
    return found


def test_the_rollout_epoch_takes_rollout_patches_but_never_the_withdrawn_local_reads() -> None:
    patches = _patch_constants(sorted((ROOT / "workflows" / "rollout").rglob("*.py")))
    assert patches["LOCAL_READS_PATCH"] == "local-counter-reads"
    assert "local-counter-reads" not in ROLLOUT_EPOCH.patches
    assert ROLLOUT_EPOCH.patches <= set(patches.values()) - {"local-counter-reads"}
    assert len(ROLLOUT_EPOCH.patches) == 28


def test_the_lease_epoch_takes_lease_patches() -> None:
    patches = _patch_constants([ROOT / "workflows" / "lease.py"])
    assert LEASE_EPOCH.patches <= set(patches.values())
    assert len(LEASE_EPOCH.patches) == 4


def test_an_epoch_marker_is_no_patch_of_its_own() -> None:
    for epoch in (ROLLOUT_EPOCH, LEASE_EPOCH):
        assert epoch.marker not in ROLLOUT_EPOCH.patches | LEASE_EPOCH.patches
    assert ROLLOUT_EPOCH.marker != LEASE_EPOCH.marker
