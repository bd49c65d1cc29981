"""workers.settings.Settings.from_env: defaults, implied TLS, and one error naming every bad variable."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from workers.settings import Settings, SettingsError


@pytest.fixture
def pem(tmp_path: Path) -> dict[str, Path]:
    files = {name: tmp_path / f"{name}.pem" for name in ("cert", "key", "ca")}
    for path in files.values():
        path.write_text("-----BEGIN TEST-----\n")
    return files


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.address == "localhost:7233"
    assert settings.namespace == "default"
    assert settings.task_queue == "rollouts"
    assert settings.tls is False
    assert settings.api_key is None
    assert settings.tls_cert_path is None
    assert settings.graceful_shutdown == timedelta(seconds=30)
    assert settings.log_level == "INFO"


def test_reads_os_environ_when_no_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "TEMPORAL_TLS_CERT_PATH",
        "TEMPORAL_TLS_KEY_PATH",
        "TEMPORAL_TLS_CA_PATH",
        "WORKER_GRACEFUL_SHUTDOWN_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "from-os-environ")
    assert Settings.from_env().namespace == "from-os-environ"


def test_plain_values() -> None:
    settings = Settings.from_env(
        {
            "TEMPORAL_ADDRESS": "temporal.example:7233",
            "TEMPORAL_NAMESPACE": "prod",
            "ROLLOUTS_TASK_QUEUE": "rollouts-eu",
            "TEMPORAL_TLS_SERVER_NAME": "temporal.example",
            "WORKER_GRACEFUL_SHUTDOWN_SECONDS": "2.5",
            "LOG_LEVEL": "DEBUG",
        }
    )
    assert settings.address == "temporal.example:7233"
    assert settings.namespace == "prod"
    assert settings.task_queue == "rollouts-eu"
    assert settings.tls_server_name == "temporal.example"
    assert settings.graceful_shutdown == timedelta(seconds=2.5)
    assert settings.log_level == "DEBUG"
    assert settings.tls is False


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes"])
def test_tls_flag(value: str) -> None:
    assert Settings.from_env({"TEMPORAL_TLS": value}).tls is True


@pytest.mark.parametrize("value", ["", "0", "false", "no"])
def test_tls_flag_off(value: str) -> None:
    assert Settings.from_env({"TEMPORAL_TLS": value}).tls is False


def test_api_key_implies_tls() -> None:
    settings = Settings.from_env({"TEMPORAL_API_KEY": "secret-key"})
    assert settings.tls is True
    assert settings.api_key == "secret-key"


def test_empty_api_key_is_none() -> None:
    settings = Settings.from_env({"TEMPORAL_API_KEY": "", "TEMPORAL_TLS_SERVER_NAME": ""})
    assert settings.api_key is None
    assert settings.tls_server_name is None
    assert settings.tls is False


def test_client_certificate_implies_tls(pem: dict[str, Path]) -> None:
    settings = Settings.from_env({"TEMPORAL_TLS_CERT_PATH": str(pem["cert"]), "TEMPORAL_TLS_KEY_PATH": str(pem["key"])})
    assert settings.tls is True
    assert settings.tls_cert_path == pem["cert"]
    assert settings.tls_key_path == pem["key"]
    assert settings.tls_ca_path is None


def test_ca_implies_tls(pem: dict[str, Path]) -> None:
    settings = Settings.from_env({"TEMPORAL_TLS_CA_PATH": str(pem["ca"])})
    assert settings.tls is True
    assert settings.tls_ca_path == pem["ca"]


def test_empty_paths_are_unset() -> None:
    settings = Settings.from_env(
        {"TEMPORAL_TLS_CERT_PATH": "", "TEMPORAL_TLS_KEY_PATH": "", "TEMPORAL_TLS_CA_PATH": ""}
    )
    assert settings.tls is False
    assert settings.tls_cert_path is None


def test_cert_without_key(pem: dict[str, Path]) -> None:
    with pytest.raises(SettingsError, match="must be set together"):
        Settings.from_env({"TEMPORAL_TLS_CERT_PATH": str(pem["cert"])})


def test_key_without_cert(pem: dict[str, Path]) -> None:
    with pytest.raises(SettingsError, match="must be set together"):
        Settings.from_env({"TEMPORAL_TLS_KEY_PATH": str(pem["key"])})


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"TEMPORAL_TLS_CA_PATH": str(missing)})
    assert str(info.value) == f"invalid worker settings: TEMPORAL_TLS_CA_PATH={str(missing)!r}: no such file"


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"TEMPORAL_TLS_CA_PATH=.*no such file"):
        Settings.from_env({"TEMPORAL_TLS_CA_PATH": str(tmp_path)})


@pytest.mark.parametrize("value", ["abc", "-1", "", "nan", "30s"])
def test_bad_grace_period(value: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"WORKER_GRACEFUL_SHUTDOWN_SECONDS": value})
    assert f"WORKER_GRACEFUL_SHUTDOWN_SECONDS={value!r}: expected a number of seconds >= 0" in str(info.value)


def test_zero_grace_period_is_allowed() -> None:
    assert Settings.from_env({"WORKER_GRACEFUL_SHUTDOWN_SECONDS": "0"}).graceful_shutdown == timedelta()


def test_one_error_names_every_bad_variable(tmp_path: Path, pem: dict[str, Path]) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(
            {
                "TEMPORAL_TLS_CERT_PATH": str(tmp_path / "missing-cert.pem"),
                "TEMPORAL_TLS_CA_PATH": str(tmp_path / "missing-ca.pem"),
                "WORKER_GRACEFUL_SHUTDOWN_SECONDS": "soon",
            }
        )
    message = str(info.value)
    assert message.startswith("invalid worker settings: ")
    problems = message.removeprefix("invalid worker settings: ").split("; ")
    assert problems == [
        f"TEMPORAL_TLS_CERT_PATH={str(tmp_path / 'missing-cert.pem')!r}: no such file",
        f"TEMPORAL_TLS_CA_PATH={str(tmp_path / 'missing-ca.pem')!r}: no such file",
        "TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH must be set together (mTLS)",
        "WORKER_GRACEFUL_SHUTDOWN_SECONDS='soon': expected a number of seconds >= 0",
    ]


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


@pytest.mark.parametrize("value", ["inf", "1e20"])
def test_out_of_range_grace_period_is_a_settings_error(value: str) -> None:
    with pytest.raises(SettingsError, match="WORKER_GRACEFUL_SHUTDOWN_SECONDS"):
        Settings.from_env({"WORKER_GRACEFUL_SHUTDOWN_SECONDS": value})
