"""Signing with the person's own SSH key, through ``ssh-keygen -Y sign`` (their agent and passphrase apply)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from models.policy import SIGNATURE_NAMESPACE


class SigningError(RuntimeError):
    """ssh-keygen could not sign: a missing key, a wrong passphrase, no ssh-keygen."""


def ssh_sign(message: bytes, key: Path) -> str:
    """The armored SSHSIG signature of ``message`` by ``key`` (a private key file, or its .pub with an agent)."""
    try:
        done = subprocess.run(
            ["ssh-keygen", "-Y", "sign", "-q", "-n", SIGNATURE_NAMESPACE, "-f", str(key)],
            input=message,
            capture_output=True,
            check=False,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SigningError(f"ssh-keygen: {exc}") from exc
    if done.returncode != 0:
        raise SigningError(f"ssh-keygen -Y sign failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode()


def expiry(valid_for: timedelta, now: datetime | None = None) -> str:
    """An expiry ``valid_for`` from now, in UTC with a Z, whole seconds: what the signed message carries."""
    at = (now or datetime.now(UTC)) + valid_for
    return at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
