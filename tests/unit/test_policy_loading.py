"""Where the worker finds the policy (ROLLOUTS_POLICY_PATH) and how ``load_policy`` reads a file or a directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.policy import PolicyActivities
from models.policy import LoadedPolicy, PolicyRequest
from workers.settings import Settings, SettingsError


def test_policy_path_setting(tmp_path: Path) -> None:
    assert Settings.from_env({}).policy_path is None
    (tmp_path / "p.json").write_text("{}")
    assert Settings.from_env({"ROLLOUTS_POLICY_PATH": str(tmp_path / "p.json")}).policy_path == tmp_path / "p.json"
    with pytest.raises(SettingsError, match="ROLLOUTS_POLICY_PATH"):
        Settings.from_env({"ROLLOUTS_POLICY_PATH": str(tmp_path / "missing.json")})


async def load(path: Path | None, service: str) -> LoadedPolicy:
    result: LoadedPolicy = await ActivityEnvironment().run(
        PolicyActivities(path).load_policy, PolicyRequest(service=service)
    )
    return result


async def test_no_path_means_no_policy() -> None:
    loaded = await load(None, "svc")
    assert loaded.policy is None and "no policy configured" in loaded.note


async def test_directory_uses_the_service_file_then_default(tmp_path: Path) -> None:
    (tmp_path / "svc.json").write_text(json.dumps({"services": {"svc": {"quorum": 2}}}))
    (tmp_path / "default.json").write_text(json.dumps({"default": {"quorum": 3}}))
    own, other = await load(tmp_path, "svc"), await load(tmp_path, "other")
    assert own.policy is not None and own.policy.policy.quorum == 2 and own.policy.source.endswith("svc.json")
    assert other.policy is not None and other.policy.policy.quorum == 3 and other.policy.scope == "default"


async def test_file_without_an_entry_is_no_policy(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text(json.dumps({"services": {"svc": {}}}))
    loaded = await load(tmp_path / "p.json", "other")
    assert loaded.policy is None and "no entry for 'other'" in loaded.note


async def test_invalid_policy_fails_without_retry_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text(json.dumps({"default": {"quorum": "two"}}))
    with pytest.raises(ApplicationError) as failed:
        await load(tmp_path / "p.json", "svc")
    assert failed.value.non_retryable and failed.value.type == "InvalidPolicy"
    assert "default.quorum" in str(failed.value)
