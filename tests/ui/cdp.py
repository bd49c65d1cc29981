"""A small Chrome DevTools Protocol client: headless Chromium driven over a websocket (aiohttp's client).

Only what the UI test needs: open a page, wait for text, read it, set localStorage, take a screenshot. The page
of a running workflow never goes idle (the UI polls), so ``--virtual-time-budget``/``--dump-dom`` never return;
driving the browser over the protocol and waiting for the text we expect does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = Path("/usr/bin/chromium")
_BODY_TEXT = "document.body ? document.body.innerText : ''"


def _child_frames(node: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for child in node.get("childFrames", []):
        found.append(child["frame"]["id"])
        found += _child_frames(child)
    return found


class Page:
    """One browser tab: commands go out with an id, answers are matched back to it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            waiter = self._pending.pop(data.get("id", -1), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(data)
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError("DevTools connection closed"))

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One protocol command; its ``result``, or an error naming the command."""
        ident = next(self._ids)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = waiter
        await self._ws.send_json({"id": ident, "method": method, "params": params})
        answer = await asyncio.wait_for(waiter, timeout=30)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        answer = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return answer.get("result", {}).get("value")

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def text(self) -> str:
        """The page's text and that of every frame in it.

        The UI renders user Markdown (summary, details, Current Details) in sandboxed iframes, out of reach of
        the page's own scripts; an isolated world per frame reads them.
        """
        texts = [await self.evaluate(_BODY_TEXT)]
        tree = await self.send("Page.getFrameTree")
        for frame_id in _child_frames(tree["frameTree"]):
            try:
                world = await self.send("Page.createIsolatedWorld", frameId=frame_id, worldName="ui-test")
                answer = await self.send(
                    "Runtime.evaluate",
                    expression=_BODY_TEXT,
                    contextId=world["executionContextId"],
                    returnByValue=True,
                )
            except RuntimeError:  # the frame went away meanwhile (the UI re-renders)
                continue
            texts.append(answer.get("result", {}).get("value"))
        return "\n".join(t for t in texts if isinstance(t, str))

    async def wait_for_text(self, *needles: str, timeout: float = 60.0) -> str:
        """Poll the page's text until every needle is in it; the deadline, not a sleep, decides failure."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            text = await self.text()
            if all(n in text for n in needles):
                return text
            if loop.time() > deadline:
                missing = [n for n in needles if n not in text]
                raise AssertionError(f"page never showed {missing}; it shows:\n{text[:6000]}")
            await asyncio.sleep(0.25)

    async def click_text(self, label: str) -> bool:
        """Click the first button or link whose text is ``label``; False when there is none."""
        found = await self.evaluate(
            "(() => { const want = " + json.dumps(label) + ";"
            " const el = [...document.querySelectorAll('button, a, summary, [role=button]')]"
            ".find(e => e.innerText && e.innerText.trim() === want);"
            " if (!el) return false; el.click(); return true; })()"
        )
        return bool(found)

    async def screenshot(self, path: Path) -> None:
        """A PNG of the viewport."""
        answer = await self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(answer["data"]))


@contextlib.asynccontextmanager
async def chromium(profile: Path, *, width: int = 1280, height: int = 900) -> AsyncIterator[Page]:
    """Headless Chromium with a fresh profile in ``profile``, and its first tab."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run scripts/install_servers.sh as root (apt-get install chromium)")
    process = await asyncio.create_subprocess_exec(
        str(CHROMIUM),
        "--headless=new",
        "--no-sandbox",  # tests run as root in containers, where the sandbox cannot start
        "--disable-gpu",
        "--no-first-run",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.returncode is not None or loop.time() > deadline:
                raise RuntimeError("chromium did not open its DevTools port")
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json()
            target = next(t for t in targets if t.get("type") == "page")
            async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=64 * 1024 * 1024) as ws:
                page = Page(ws)
                await page.send("Page.enable")
                await page.send(
                    "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False
                )
                yield page
    finally:
        if process.returncode is None:
            process.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), timeout=10)
            if process.returncode is None:
                process.kill()
                await process.wait()
