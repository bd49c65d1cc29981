"""``load_policy``: read the operators' policy file once, at a rollout's start.

The worker's settings name a file or a directory (``ROLLOUTS_POLICY_PATH``); in a directory, ``<service>.json``
governs that service and ``default.json`` the rest. Reading is idempotent; an unreadable or invalid policy is a
non-retryable failure naming the field, because retrying will not fix the file and a rollout must never run
under a policy it could not read.
"""

from __future__ import annotations

from pathlib import Path

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.policy import (
    LoadedPolicy,
    PolicyError,
    PolicyRequest,
    RouterCheck,
    RouterVerdict,
    resolve,
    router_allowed,
)


class PolicyActivities:
    """Activities bound to the policy path of this worker (None: no policy configured)."""

    def __init__(self, path: Path | None, *, lab_mode: bool = False) -> None:
        self._path = path
        self._lab_mode = lab_mode

    def all(self) -> list[object]:
        """Every activity of this class, for the worker."""
        return [self.load_policy, self.check_router]

    def _file_for(self, service: str) -> Path | None:
        assert self._path is not None
        if not self._path.is_dir():
            return self._path
        for name in (f"{service}.json", "default.json"):
            if (self._path / name).is_file():
                return self._path / name
        return None

    @activity.defn(name="load_policy")
    async def load_policy(self, request: PolicyRequest) -> LoadedPolicy:
        """The policy governing ``request.service``, with the SHA-256 of the bytes read."""
        log = structlog.get_logger("activities").bind(service=request.service)
        if self._path is None:
            log.info("no policy configured", lab_mode=self._lab_mode)
            return LoadedPolicy(
                note="no policy configured on the worker (ROLLOUTS_POLICY_PATH)"
                + ("; lab mode (ROLLOUTS_LAB_MODE)" if self._lab_mode else ""),
                lab_mode=self._lab_mode,
            )
        path = self._file_for(request.service)
        if path is None:
            return LoadedPolicy(note=f"{self._path}: neither {request.service}.json nor default.json")
        try:
            raw = path.read_bytes()
            governing = resolve(raw, source=str(path), service=request.service)
        except OSError as exc:
            raise ApplicationError(f"policy {path}: {exc}", type="PolicyUnreadable", non_retryable=True) from exc
        except PolicyError as exc:
            raise ApplicationError(str(exc), type="InvalidPolicy", non_retryable=True) from exc
        if governing is None:
            return LoadedPolicy(note=f"{path}: no entry for {request.service!r} and no default")
        log.info("policy loaded", source=str(path), sha256=governing.sha256, scope=governing.scope)
        return LoadedPolicy(policy=governing)

    @activity.defn(name="check_router")
    async def check_router(self, request: RouterCheck) -> RouterVerdict:
        """Whether the operators' policy, as it is now, defines (or allows) ``request.router`` for the service.

        The lease asks before it acts on the router a lease request carried: a request is anyone's to write.
        """
        loaded = await self.load_policy(PolicyRequest(service=request.service))
        if router_allowed(request.router, request.service, loaded.policy, lab_mode=loaded.lab_mode):
            return RouterVerdict(allowed=True)
        where = "no policy and not in lab mode" if loaded.policy is None else f"policy {loaded.policy.scope}"
        return RouterVerdict(
            allowed=False,
            note=f"the lease request's {request.router.kind} router is not one of {request.service}'s targets "
            f"({where}): not called",
        )
