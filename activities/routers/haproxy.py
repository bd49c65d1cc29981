"""Router ``haproxy``: server weights set through HAProxy's Runtime API (the admin socket), never a reload.

One weight change, under a lock file beside ``state_file``:

1. ``set weight <backend>/<server> <n>`` for both servers, on one line (HAProxy runs the commands in order): the
   server that gains weight first, so the share moves monotonically and the backend never has both at 0;
2. ``get weight`` of both, which must report what was set (else ``RouterNotConverged``, retried);
3. ``show servers state <backend>`` written atomically to ``state_file``, which the configuration loads at start
   (``load-server-state-from-file local``): a restarted HAProxy comes back with these weights, not the
   configuration's.

Weights are percent x 2 (0-200, inside HAProxy's 0-256), so every share with a resolution of 0.5% is expressed
exactly and reads back exactly; finer shares are refused (``ProviderRejected``), as nginx refuses three decimals.
Stable at 100% is candidate weight 0: with ``hash-type consistent`` a server of weight 0 has no place on the
hash ring and, without a stick table, no persistence can still send a user to it, so no drain state is needed.

With ``segment_maps`` set, a step's segments are runtime maps the frontend's ACLs read (``haproxy_targeting``):
users outside them go to a stable-only backend, the rest to this backend at the step's share. Maps change with
``prepare map`` / ``add map @version`` / ``commit map`` (each map switches atomically), are read back with
``show map`` and written to their files, which HAProxy loads at start, as the state file keeps the weights.

The admin socket speaks one line per exchange: a command (or several, separated by ``;``), then HAProxy answers
and closes the connection. A missing or refusing socket (HAProxy restarting) is ``ProviderUnavailable``; an
answer that is an error (no such backend or server, permission denied) is ``ProviderRejected``.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

import httpx

from activities.errors import ProviderRejected, ProviderUnavailable, RouterNotConverged
from activities.routers.files import file_lock, read_bytes, write_atomic
from activities.routers.haproxy_targeting import (
    MapParseError,
    Targeting,
    TargetingError,
    entries,
    intersection,
    map_file_text,
    map_of,
    parse_show_map,
    segments_of,
    targeting_of,
)
from models.activities import RouterState
from models.segments import Segment
from models.spec import HaproxyRouter

WEIGHT_PER_PERCENT = 2
"""HAProxy weights per percent: 100% is weight 200, inside the 0-256 HAProxy accepts, with 0.5% resolution."""
FULL_WEIGHT = 100 * WEIGHT_PER_PERCENT

_GET_WEIGHT = re.compile(r"^(?P<current>\d+) \(initial (?P<initial>\d+)\)$")
_FOREIGN = frozenset({" written by someone else"})
"""A map's contents when they are not the router's: a value no segment can have (it has a space)."""
_NEW_VERSION = re.compile(r"New version created: (?P<version>\d+)")
_MAX_ANSWER_BYTES = 1 << 20  # show servers state of one backend is a few hundred bytes per server


def weights(state: RouterState) -> tuple[int, int]:
    """(stable, candidate) HAProxy weights for ``state``; ``ValueError`` for a share finer than 0.5%."""
    scaled = state.candidate * WEIGHT_PER_PERCENT
    candidate = round(scaled)
    if abs(candidate - scaled) > 1e-6 or not 0 <= candidate <= FULL_WEIGHT:
        raise ValueError(
            f"{state.candidate!r}% is not a share HAProxy weights express exactly (0 to 100 in steps of 0.5)"
        )
    return FULL_WEIGHT - candidate, candidate


def shares(stable: int, candidate: int) -> RouterState:
    """The traffic shares that two server weights give (both 0: no traffic at all, reported as 0 / 0)."""
    total = stable + candidate
    if total == 0:
        return RouterState(stable=0.0, candidate=0.0)
    return RouterState(stable=100.0 * stable / total, candidate=100.0 * candidate / total)


def backend_section(spec: HaproxyRouter, *, stable: str, candidate: str, extra: str = "") -> str:
    """The backend this router drives, as an operator puts it in haproxy.cfg (the stand writes the same).

    ``hash-type consistent`` is what makes a runtime weight change take effect (map-based hashing ignores it)
    and keeps users on the candidate as its share grows. The configured weights are only the first start's: from
    then on the state file decides.

    Args:
        spec: the router's settings (backend, server names, state file, sticky key).
        stable: ``host:port`` of the stable version.
        candidate: ``host:port`` of the candidate.
        extra: more lines for the backend (indented), e.g. timeouts or health checks.
    """
    key = f"hdr({spec.sticky.name})" if spec.sticky.by == "header" else f"hash req.cook({spec.sticky.name})"
    return (
        f"backend {spec.backend}\n"
        f"    balance {key}\n"
        "    hash-type consistent\n"
        "    load-server-state-from-file local\n"
        f"    server-state-file-name {spec.state_file}\n"
        f"{extra}"
        f"    server {spec.stable_server} {stable} weight {FULL_WEIGHT}\n"
        f"    server {spec.candidate_server} {candidate} weight 0\n"
    )


class StateFileError(ValueError):
    """The text is not a ``show servers state`` of the backend with both servers."""


def state_weights(text: str, backend: str, servers: tuple[str, str]) -> tuple[int, int]:
    """The ``srv_uweight`` of both ``servers`` in a ``show servers state`` dump (version 1)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "1":
        raise StateFileError(f"not a version 1 server state dump: {text[:80]!r}")
    header = next((line[1:].split() for line in lines[1:] if line.startswith("#")), None)
    if header is None or not {"be_name", "srv_name", "srv_uweight"} <= set(header):
        raise StateFileError("no column header with be_name, srv_name and srv_uweight")
    col = {name: i for i, name in enumerate(header)}
    found: dict[str, int] = {}
    for line in lines[1:]:
        fields = line.split()
        if line.startswith("#") or len(fields) < len(header):
            continue
        if fields[col["be_name"]] == backend and fields[col["srv_name"]] in servers:
            found[fields[col["srv_name"]]] = int(fields[col["srv_uweight"]])
    missing = [name for name in servers if name not in found]
    if missing:
        raise StateFileError(f"no line for {backend}/{', '.join(missing)}")
    return found[servers[0]], found[servers[1]]


@dataclass(frozen=True)
class _Weights:
    stable: int
    candidate: int


class HaproxyTrafficRouter:
    """A ``TrafficRouter`` over a HAProxy whose admin socket (and state file) are on the worker's host."""

    def __init__(self, spec: HaproxyRouter, http: httpx.AsyncClient | None = None) -> None:
        del http  # the admin socket is not HTTP; the parameter keeps the factory's one signature
        self._spec = spec
        self._socket = spec.socket_path
        self._state_file = Path(spec.state_file)
        self._timeout = spec.command_timeout.total_seconds()
        self._maps = map_of(spec)
        self._asked: list[Segment] = []
        """The segments last applied, so :meth:`read` reports them in the form they were asked (region/header)."""

    async def apply(self, state: RouterState) -> None:
        """Set both weights, verify them, persist the backend's state; the same call twice leaves the same state."""
        try:
            stable, candidate = weights(state)
        except ValueError as exc:
            raise ProviderRejected(f"haproxy: {exc}") from None
        try:
            want_targeting = targeting_of(self._spec, list(state.segments))
        except TargetingError as exc:
            raise ProviderRejected(f"haproxy: {exc}") from None
        self._asked = list(state.segments)
        want = _Weights(stable, candidate)
        async with file_lock(self._state_file, who="haproxy"):
            if candidate == 0:
                # Rollback or kill: stable first, on the first exchange, before anything is read. Stable gains
                # weight before the candidate loses it, whatever the current weights, so both are never 0.
                await self._set_weights(want, raising_candidate=False)
            now_targeting = await self._targeting(rewrite_foreign=candidate == 0)
            narrower = intersection(now_targeting, want_targeting)
            await self._set_targeting(now_targeting, narrower)  # first narrow: no one gains the candidate here
            current = await self._get()
            if current != want:
                await self._set_weights(want, raising_candidate=candidate > current.candidate)
                got = await self._get()
                if got != want:
                    raise RouterNotConverged(
                        f"haproxy: {self._spec.backend} reports weights {got.stable}/{got.candidate} after setting "
                        f"{stable}/{candidate} (stable/candidate)"
                    )
            await self._persist(want)
            await self._set_targeting(narrower, want_targeting)  # then widen to the new segments
            got_targeting = await self._targeting()
            if got_targeting != want_targeting:
                raise RouterNotConverged(
                    f"haproxy: the segment maps read back {_said(got_targeting)}, expected {_said(want_targeting)}"
                )
            await self._persist_maps(got_targeting)

    async def _set_weights(self, want: _Weights, *, raising_candidate: bool) -> None:
        """Both ``set weight`` commands on one line, the server that gains weight first."""
        order = (
            [(self._spec.candidate_server, want.candidate), (self._spec.stable_server, want.stable)]
            if raising_candidate
            else [(self._spec.stable_server, want.stable), (self._spec.candidate_server, want.candidate)]
        )
        line = "; ".join(f"set weight {self._spec.backend}/{server} {weight}" for server, weight in order)
        answer = await self._command(line)
        if answer.strip():
            raise ProviderRejected(f"haproxy: {line!r} answered {answer.strip()[:300]!r}")

    async def read(self) -> RouterState:
        """The shares that HAProxy's current weights give (``get weight``), within the segments its maps hold."""
        got = await self._get()
        state = shares(got.stable, got.candidate)
        if not self._maps:
            return state
        segments = segments_of(self._spec, await self._targeting(), self._asked)
        return state.model_copy(update={"segments": segments})

    # ------------------------------------------------------------------ the segment maps

    async def _targeting(self, *, rewrite_foreign: bool = False) -> Targeting:
        """What each segment map holds now, from ``show map`` (one exchange per map).

        A map with entries the router does not write is ``ProviderRejected``, except with ``rewrite_foreign`` (a
        move to stable, which must always succeed): it is then reported as holding a value no segment can have,
        so that the move rewrites it.
        """
        out: Targeting = {}
        for header, (_, path) in self._maps.items():
            answer = await self._command(f"show map {path}")
            try:
                out[header] = parse_show_map(answer)
            except MapParseError as exc:
                if not rewrite_foreign:
                    raise ProviderRejected(f"haproxy: show map {path}: {exc}") from None
                out[header] = _FOREIGN
        return out

    async def _set_targeting(self, now: Targeting, want: Targeting) -> None:
        """Switch each map that differs to its new entries, atomically per map (prepare, add, commit)."""
        for header, (name, path) in self._maps.items():
            if now.get(header) == want.get(header):
                continue
            answer = await self._command(f"prepare map {path}")
            found = _NEW_VERSION.search(answer)
            if found is None:
                raise ProviderRejected(f"haproxy: prepare map {path} answered {answer.strip()[:200]!r}")
            version = found["version"]
            adds = [f"add map @{version} {path} {key} {value}" for key, value in entries(want.get(header))]
            line = "; ".join([*adds, f"commit map @{version} {path}"])
            answer = await self._command(line)
            if answer.strip():
                raise ProviderRejected(f"haproxy: changing the {name} map answered {answer.strip()[:300]!r}")
            await self._write_map(name, path, want.get(header))

    async def _persist_maps(self, targeting: Targeting) -> None:
        """Write every map file whose text differs from what the runtime maps hold (a retry after a crash)."""
        for header, (name, path) in self._maps.items():
            await self._write_map(name, path, targeting.get(header))

    async def _write_map(self, name: str, path: str, values: frozenset[str] | None) -> None:
        text = map_file_text(name, values).encode()
        try:
            if await asyncio.to_thread(read_bytes, Path(path)) != text:
                await asyncio.to_thread(write_atomic, Path(path), text)
        except OSError as exc:
            raise ProviderRejected(f"haproxy: cannot write the map file {path}: {exc}") from exc

    # ------------------------------------------------------------------ the admin socket

    async def _get(self) -> _Weights:
        backend = self._spec.backend
        servers = (self._spec.stable_server, self._spec.candidate_server)
        answer = await self._command("; ".join(f"get weight {backend}/{server}" for server in servers))
        chunks = [chunk.strip() for chunk in answer.split("\n\n") if chunk.strip()]
        parsed = [_GET_WEIGHT.match(chunk) for chunk in chunks]
        if len(chunks) != 2 or parsed[0] is None or parsed[1] is None:
            raise ProviderRejected(f"haproxy: get weight {backend}/{'|'.join(servers)} answered {answer[:300]!r}")
        return _Weights(int(parsed[0]["current"]), int(parsed[1]["current"]))

    async def _command(self, line: str) -> str:
        """Send one line to the admin socket and return HAProxy's whole answer (it closes after answering)."""
        try:
            async with asyncio.timeout(self._timeout):
                reader, writer = await asyncio.open_unix_connection(self._socket)
                try:
                    writer.write(line.encode() + b"\n")
                    await writer.drain()
                    data = await reader.read(_MAX_ANSWER_BYTES)
                    while chunk := await reader.read(_MAX_ANSWER_BYTES):
                        data += chunk
                        if len(data) > _MAX_ANSWER_BYTES:
                            raise ProviderRejected(f"haproxy: answer to {line!r} exceeds {_MAX_ANSWER_BYTES} bytes")
                finally:
                    writer.close()
                    await writer.wait_closed()
        except TimeoutError:
            raise ProviderUnavailable(
                f"haproxy: {self._socket} did not answer {line!r} within {self._timeout:g}s"
            ) from None
        except (FileNotFoundError, ConnectionError) as exc:
            raise ProviderUnavailable(f"haproxy: admin socket {self._socket}: {type(exc).__name__}: {exc}") from exc
        except PermissionError as exc:
            raise ProviderRejected(f"haproxy: admin socket {self._socket}: {exc}") from exc
        except OSError as exc:
            raise ProviderUnavailable(f"haproxy: admin socket {self._socket}: {exc}") from exc
        text = data.decode(errors="replace")
        if "Permission denied" in text or text.startswith("Unknown command"):
            raise ProviderRejected(
                f"haproxy: {self._socket} refused {line.split(';')[0]!r} (the socket needs level admin): "
                f"{text.strip()[:200]!r}"
            )
        return text

    async def _persist(self, want: _Weights) -> None:
        """Write the backend's server state to ``state_file``, after checking it holds the weights just set."""
        dump = await self._command(f"show servers state {self._spec.backend}")
        servers = (self._spec.stable_server, self._spec.candidate_server)
        try:
            stable, candidate = state_weights(dump, self._spec.backend, servers)
        except StateFileError as exc:
            raise ProviderRejected(f"haproxy: show servers state {self._spec.backend}: {exc}") from None
        if (stable, candidate) != (want.stable, want.candidate):
            raise RouterNotConverged(
                f"haproxy: the server state shows weights {stable}/{candidate}, expected "
                f"{want.stable}/{want.candidate} (changed by someone else meanwhile?)"
            )
        try:
            await asyncio.to_thread(write_atomic, self._state_file, dump.encode())
        except OSError as exc:
            raise ProviderRejected(f"haproxy: cannot write the state file {self._state_file}: {exc}") from exc


def _said(targeting: Targeting) -> str:
    constrained = {header: sorted(values) for header, values in targeting.items() if values is not None}
    return " and ".join(f"{header} in {','.join(values) or '(nothing)'}" for header, values in constrained.items()) or (
        "no segments"
    )
