"""Worker settings from the environment; the names match the Temporal CLI's own variables where one exists."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path


class SettingsError(ValueError):
    """An environment variable is set to something the worker cannot use."""


@dataclass(frozen=True)
class Settings:
    """Where to connect and what to serve."""

    address: str = "localhost:7233"
    namespace: str = "default"
    task_queue: str = "rollouts"
    tls: bool = False
    tls_cert_path: Path | None = None
    tls_key_path: Path | None = None
    tls_ca_path: Path | None = None
    tls_server_name: str | None = None
    api_key: str | None = None
    graceful_shutdown: timedelta = timedelta(seconds=30)
    log_level: str = "INFO"
    policy_path: Path | None = None
    """Service policies (a JSON file, or a directory of <service>.json and default.json); None: no policy, so
    no rollout that needs approvals can start."""
    lab_mode: bool = False
    """ROLLOUTS_LAB_MODE: with no policy, a spec's inline router and metrics may run (a lab, a laptop). Without a
    policy and without lab mode, the worker moves no traffic at all."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read the settings, failing with one message that names every bad variable."""
        env = dict(os.environ if env is None else env)
        problems: list[str] = []

        def path(name: str) -> Path | None:
            value = env.get(name)
            if not value:
                return None
            if not Path(value).is_file():
                problems.append(f"{name}={value!r}: no such file")
            return Path(value)

        cert, key, ca = path("TEMPORAL_TLS_CERT_PATH"), path("TEMPORAL_TLS_KEY_PATH"), path("TEMPORAL_TLS_CA_PATH")
        if (cert is None) != (key is None):
            problems.append("TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH must be set together (mTLS)")
        grace_raw = env.get("WORKER_GRACEFUL_SHUTDOWN_SECONDS", "30")
        try:
            grace = timedelta(seconds=float(grace_raw))
            if grace.total_seconds() < 0:
                raise ValueError
        except (ValueError, OverflowError):
            problems.append(f"WORKER_GRACEFUL_SHUTDOWN_SECONDS={grace_raw!r}: expected a number of seconds >= 0")
            grace = timedelta(seconds=30)
        api_key = env.get("TEMPORAL_API_KEY") or None
        policy_raw = env.get("ROLLOUTS_POLICY_PATH") or None
        if policy_raw is not None and not Path(policy_raw).exists():
            problems.append(f"ROLLOUTS_POLICY_PATH={policy_raw!r}: no such file or directory")
        tls_flag = env.get("TEMPORAL_TLS", "").lower() in {"1", "true", "yes"}
        lab_raw = env.get("ROLLOUTS_LAB_MODE", "").lower()
        if lab_raw not in {"", "0", "false", "no", "1", "true", "yes"}:
            problems.append(f"ROLLOUTS_LAB_MODE={lab_raw!r}: expected true or false")
        lab_flag = lab_raw in {"1", "true", "yes"}
        if problems:
            raise SettingsError("invalid worker settings: " + "; ".join(problems))
        return cls(
            address=env.get("TEMPORAL_ADDRESS", cls.address),
            namespace=env.get("TEMPORAL_NAMESPACE", cls.namespace),
            task_queue=env.get("ROLLOUTS_TASK_QUEUE", cls.task_queue),
            # An API key or client certificate means a remote cluster, which always speaks TLS.
            tls=tls_flag or cert is not None or ca is not None or api_key is not None,
            tls_cert_path=cert,
            tls_key_path=key,
            tls_ca_path=ca,
            tls_server_name=env.get("TEMPORAL_TLS_SERVER_NAME") or None,
            api_key=api_key,
            graceful_shutdown=grace,
            log_level=env.get("LOG_LEVEL", cls.log_level),
            policy_path=None if policy_raw is None else Path(policy_raw),
            lab_mode=lab_flag,
        )
