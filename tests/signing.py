"""Real SSH keys for tests: generated with ssh-keygen in a temporary directory, signing through the CLI's code."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from workers.cli.signing import ssh_sign


@dataclass(frozen=True)
class Person:
    """A principal with a freshly generated key pair (ed25519 unless asked otherwise)."""

    principal: str
    key: Path

    @property
    def public(self) -> str:
        kind, blob = self.key.with_name(self.key.name + ".pub").read_text().split()[:2]
        return f"{kind} {blob}"

    def allowed(self, *, principals: str | None = None) -> str:
        """This person's line in an allowed_signers file (optionally under other principals)."""
        return f'{principals or self.principal} namespaces="durable-rollouts" {self.public}'

    def sign(self, message: bytes) -> str:
        return ssh_sign(message, self.key)


def make_person(directory: Path, principal: str, *, kind: str = "ed25519", bits: int | None = None) -> Person:
    """Generate a key pair without a passphrase under ``directory`` (``bits``: ssh-keygen's -b, e.g. for RSA)."""
    key = directory / f"{principal.replace('@', '_at_')}-{kind}{bits or ''}"
    size = ["-b", str(bits)] if bits is not None else []
    subprocess.run(["ssh-keygen", "-q", "-t", kind, *size, "-N", "", "-C", principal, "-f", str(key)], check=True)
    return Person(principal=principal, key=key)
