"""Router ``unleash``: the candidate's exposure is a feature flag on an Unleash server, set through its Admin API.

The rollout owns one flag in one environment. Its exposure is the flag's single ``flexibleRollout`` strategy
(``rollout`` percent of users, sticky by ``stickiness``, grouped by the flag's name so the same users stay in as
the percentage grows) with one ``IN`` constraint per segment; gateways evaluate the flag with an Unleash SDK and
send a user for whom it is on to the candidate.

One change (:meth:`UnleashTrafficRouter.apply`):

- 0% (rollback, kill): disable the flag in the environment *first*, one request that takes everyone off the
  candidate, then set the strategy to 0% with no constraints, so that re-enabling the flag by hand exposes no one;
- otherwise: create the flag and the segments' context fields when missing, set the strategy (update the one
  there, or add it; remove any other), then enable the flag in the environment (never before the strategy: Unleash
  gives a flag enabled without strategies a default one that is on for everyone); 100% for everyone, the
  promotion, also marks the flag stale (for its removal from the gateway's code), and any other share unmarks it.

:meth:`~UnleashTrafficRouter.read` reads the flag back: disabled, or no strategy, is 0%; one ``flexibleRollout``
gives its percentage and constraints as segments; anything else (a strategy someone added by hand) is
``ProviderRejected``, because the shares it gives cannot be stated. Tokens: the admin token comes from the worker's
environment (``token_env``), never from the target, which the workflow's history records.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from activities.errors import ProviderRejected
from activities.http_errors import provider_call
from models.activities import RouterState
from models.segments import REGION_HEADER, HeaderSegment, RegionSegment, Segment, context_name, header_of, values_of
from models.spec import UnleashRouter

STRATEGY = "flexibleRollout"
"""Unleash's gradual rollout: a percentage of users by a sticky context field."""

_OWNED_TITLE = "durable-rollouts"
"""Title of the strategy the rollout writes, so a person reading Unleash's UI sees who owns it."""


def whole_percent(candidate: float) -> int:
    """``candidate`` as Unleash's integer rollout percentage; ``ValueError`` for a fractional share."""
    value = round(candidate)
    if abs(value - candidate) > 1e-9 or not 0 <= value <= 100:
        raise ValueError(f"{candidate!r}% is not a whole percentage from 0 to 100, which Unleash's rollout needs")
    return value


def constraints(segments: list[Segment]) -> list[dict[str, Any]]:
    """One ``IN`` constraint per segment, on the context field the gateway fills from the segment's header."""
    return [
        {"contextName": context_name(s), "operator": "IN", "values": list(values_of(s)), "caseInsensitive": False}
        for s in segments
    ]


def segments_of(found: list[dict[str, Any]], headers: dict[str, str]) -> list[Segment]:
    """The segments a strategy's constraints express; ``ValueError`` for a constraint no segment writes.

    Args:
        found: the strategy's constraints as Unleash returns them.
        headers: the header (original case) of each context name the rollout asked for, to report the segments
            exactly as the spec wrote them; other names are reported by their context name.
    """
    out: list[Segment] = []
    for c in found:
        name, operator, values = c.get("contextName"), c.get("operator"), c.get("values")
        if operator != "IN" or c.get("inverted") or not isinstance(name, str) or not isinstance(values, list):
            raise ValueError(f"constraint {c!r:.200} is not one a rollout segment writes (contextName IN values)")
        if name == "region":
            out.append(RegionSegment(region=[str(v) for v in values]))
        else:
            out.append(
                HeaderSegment.model_validate({"header": headers.get(name, name), "in": [str(v) for v in values]})
            )
    return out


class UnleashTrafficRouter:
    """A ``TrafficRouter`` over an Unleash server's Admin API, on the worker's shared HTTP client."""

    def __init__(self, spec: UnleashRouter, http: httpx.AsyncClient) -> None:
        self._spec = spec
        self._http = http
        self._timeout = spec.request_timeout.total_seconds()
        base = spec.url.rstrip("/")
        self._admin = f"{base}/api/admin"
        self._feature = f"{self._admin}/projects/{spec.project}/features/{spec.flag}"
        self._env = f"{self._feature}/environments/{spec.environment}"
        self._headers_by_context: dict[str, str] = {"region": REGION_HEADER}

    def _auth(self) -> dict[str, str]:
        token = os.environ.get(self._spec.token_env)
        if not token:
            raise ProviderRejected(
                f"unleash: no admin API token in the worker's environment variable {self._spec.token_env} "
                "(the operators set it; see docs/flags.md)"
            )
        return {"Authorization": token}

    async def _call(self, method: str, url: str, *, json: Any = None, ok: tuple[int, ...] = ()) -> Any:
        what = f"unleash {method} {url.removeprefix(self._admin)}"
        async with provider_call(what):
            response = await self._http.request(method, url, json=json, headers=self._auth(), timeout=self._timeout)
            if response.status_code in ok:
                return None
            response.raise_for_status()
            return response.json() if response.content else None

    async def apply(self, state: RouterState) -> None:
        """Set the flag to ``state`` (idempotent: the same call twice leaves the same flag)."""
        try:
            percent = whole_percent(state.candidate)
        except ValueError as exc:
            raise ProviderRejected(f"unleash: {exc}") from None
        if percent == 0:
            # The kill first: one request takes everyone off the candidate, whatever the strategy says.
            await self._call("POST", f"{self._env}/off", ok=(404,))
            flag = await self._flag()
            if flag is not None:
                await self._set_strategy(flag, 0, [])
                if flag.get("stale"):  # a promotion undone: the flag is no longer the one to remove
                    await self._call("PATCH", self._feature, json=[{"op": "replace", "path": "/stale", "value": False}])
            return
        for segment in state.segments:
            self._headers_by_context[context_name(segment)] = header_of(segment)
            await self._call("POST", f"{self._admin}/context", json={"name": context_name(segment)}, ok=(409,))
        flag = await self._flag()
        if flag is None:
            await self._call(
                "POST",
                f"{self._admin}/projects/{self._spec.project}/features",
                json={
                    "name": self._spec.flag,
                    "type": "release",
                    "description": "Candidate exposure (durable-rollouts)",
                },
                ok=(409,),
            )
            flag = await self._flag()
        await self._set_strategy(flag, percent, list(state.segments))
        await self._call("POST", f"{self._env}/on")
        # Flag hygiene: 100% for everyone is the promotion (a step's share of everyone is below 100), after which
        # the flag only adds a branch to the gateway's code: marked stale, for its removal. A later rollout on the
        # same flag clears the mark.
        promoted = percent == 100 and not state.segments
        if bool(flag and flag.get("stale")) != promoted:
            patch = [{"op": "replace", "path": "/stale", "value": promoted}]
            await self._call("PATCH", self._feature, json=patch)

    async def read(self) -> RouterState:
        """The exposure the flag gives now: 0% when off or missing, else its strategy's percentage and segments."""
        flag = await self._flag()
        env = self._environment(flag) if flag is not None else None
        if env is None or not env.get("enabled"):
            return RouterState(stable=100.0, candidate=0.0)
        strategies = [s for s in env.get("strategies", []) if not s.get("disabled")]
        if not strategies:
            return RouterState(stable=100.0, candidate=0.0)
        if len(strategies) > 1 or strategies[0].get("name") != STRATEGY:
            names = ", ".join(str(s.get("name")) for s in strategies)
            raise ProviderRejected(
                f"unleash: flag {self._spec.flag} in {self._spec.environment} has strategies {names}: the rollout "
                f"expects its one {STRATEGY} (someone changed the flag by hand?)"
            )
        strategy = strategies[0]
        try:
            percent = float(int(str(strategy.get("parameters", {}).get("rollout"))))
            segments = segments_of(strategy.get("constraints", []), self._headers_by_context)
        except ValueError as exc:
            raise ProviderRejected(f"unleash: flag {self._spec.flag}: {exc}") from None
        return RouterState(stable=100.0 - percent, candidate=percent, segments=segments)

    # ------------------------------------------------------------------ the flag

    async def _flag(self) -> dict[str, Any] | None:
        found = await self._call("GET", self._feature, ok=(404,))
        if found is not None and not isinstance(found, dict):
            raise ProviderRejected(f"unleash: GET {self._spec.flag} answered {found!r:.200}")
        return found

    def _environment(self, flag: dict[str, Any]) -> dict[str, Any] | None:
        for env in flag.get("environments", []):
            if isinstance(env, dict) and env.get("name") == self._spec.environment:
                return env
        raise ProviderRejected(
            f"unleash: project {self._spec.project} has no environment {self._spec.environment} for the flag"
        )

    async def _set_strategy(self, flag: dict[str, Any] | None, percent: int, segments: list[Segment]) -> None:
        """Make the rollout's strategy the flag's only one, given the flag as just read (``None``: missing)."""
        body = {
            "name": STRATEGY,
            "title": _OWNED_TITLE,
            "parameters": {
                "rollout": str(percent),
                "stickiness": self._spec.stickiness,
                "groupId": self._spec.flag,
            },
            "constraints": constraints(segments),
            "disabled": False,
        }
        env = self._environment(flag) if flag is not None else None
        existing = [s for s in (env or {}).get("strategies", []) if isinstance(s, dict)]
        keep = next((s for s in existing if s.get("name") == STRATEGY), None)
        for other in existing:
            if other is not keep:
                await self._call("DELETE", f"{self._env}/strategies/{other['id']}", ok=(404,))
        if keep is None:
            await self._call("POST", f"{self._env}/strategies", json=body)
        else:
            await self._call("PUT", f"{self._env}/strategies/{keep['id']}", json=body)
