"""A headless Debian chromium driven over the Chrome DevTools Protocol (a websocket; `websockets` is in the lock
through uvicorn[standard]), with the network closed to everything but loopback. Just enough for the GraphiQL test:
navigate, evaluate JavaScript, record requests, take a screenshot. No browser download: the system's chromium
(tests/browser/install-chromium.sh installs it in CI)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
START_TIMEOUT_S = 20.0
CHROMIUM_MISSING = "chromium is not installed (tests/browser/install-chromium.sh installs it, as root on Debian)"


def find_chromium() -> str | None:
    """CHROMIUM_PATH, else Debian's chromium."""
    for candidate in (os.environ.get("CHROMIUM_PATH"), *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _arguments(executable: str, profile: Path) -> list[str]:
    arguments = [
        executable,
        "--headless=new",
        "--remote-debugging-port=0",
        "--remote-allow-origins=*",
        f"--user-data-dir={profile}",
        "--window-size=1280,800",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        # No network but loopback: no name resolves (so no CDN could be reached by name), and anything not to
        # loopback goes to a proxy that is not there (loopback bypasses proxies by default).
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--proxy-server=127.0.0.1:9",
    ]
    if os.geteuid() == 0:
        arguments.append("--no-sandbox")  # chromium's sandbox refuses to run as root
    return [*arguments, "about:blank"]


class Page:
    """One tab: CDP calls by id, events kept in order for the test to inspect."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self._socket:
            message = json.loads(raw)
            if "id" in message:
                future = self._pending.pop(message["id"])
                if "error" in message:
                    future.set_exception(RuntimeError(f"CDP error: {message['error']}"))
                else:
                    future.set_result(message.get("result", {}))
            else:
                self.events.append(message)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        await self._socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        return await asyncio.wait_for(future, timeout=15)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, *, seconds: float = 15.0) -> Any:
        """Polls until `expression` is truthy; its value."""
        try:
            async with asyncio.timeout(seconds):
                while True:  # the page changes by itself: there is nothing to wait on but the next look
                    if value := await self.evaluate(expression):
                        return value
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"timed out after {seconds} s waiting for {expression!r}") from None

    async def navigate(self, url: str) -> None:
        await self.call("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'")

    async def reload(self) -> None:
        await self.call("Page.reload")
        await self.wait_for("document.readyState === 'complete'")

    async def screenshot(self, path: Path) -> Path:
        result = await self.call("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(result["data"]))
        return path

    def requested_urls(self) -> list[str]:
        return [
            event["params"]["request"]["url"] for event in self.events if event["method"] == "Network.requestWillBeSent"
        ]

    def failures(self) -> list[str]:
        return [
            f"{event['params'].get('errorText')} (request {event['params'].get('requestId')})"
            for event in self.events
            if event["method"] == "Network.loadingFailed"
        ]

    def exceptions(self) -> list[str]:
        return [
            json.dumps(event["params"]["exceptionDetails"])[:500]
            for event in self.events
            if event["method"] == "Runtime.exceptionThrown"
        ]

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self._socket.close()


async def _debugging_port(profile: Path, process: asyncio.subprocess.Process) -> int:
    port_file = profile / "DevToolsActivePort"
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
    while not port_file.exists() or not port_file.read_text().strip():
        if process.returncode is not None:
            raise RuntimeError(f"chromium exited with {process.returncode} before it listened")
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError("chromium did not open its debugging port")
        await asyncio.sleep(0.05)
    return int(port_file.read_text().split()[0])


def _page_socket_url(port: int) -> str:
    # The debugging endpoint is on loopback; no proxy may be involved in reaching it.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/json/list", timeout=5) as response:
        targets = json.loads(response.read())
    url: str = next(target["webSocketDebuggerUrl"] for target in targets if target["type"] == "page")
    return url


@contextlib.asynccontextmanager
async def open_page(executable: str) -> AsyncIterator[Page]:
    """A fresh headless chromium (its own profile) and its one tab, with Page, Network and Runtime events on."""
    with tempfile.TemporaryDirectory(prefix="dpor-chromium-") as profile_dir:
        profile = Path(profile_dir)
        process = await asyncio.create_subprocess_exec(
            *_arguments(executable, profile),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the renderers and helpers end with it
        )
        try:
            port = await _debugging_port(profile, process)
            socket = await connect(_page_socket_url(port), max_size=None, proxy=None)
            page = Page(socket)
            try:
                for domain in ("Page", "Network", "Runtime"):
                    await page.call(f"{domain}.enable")
                yield page
            finally:
                await page.close()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(5):
                    await process.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
