"""A real webhook receiver for the delivery tests: Starlette under uvicorn on a loopback port, in the test's loop.

It records every request it is sent (path, headers, raw body) and answers with `status` (503 while "down"); while
`gate` is closed (cleared), requests wait before answering, so a worker can be killed while requests are in flight.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.serve_support import HOST


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: str

    @property
    def data(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)["data"]
        return parsed


@dataclass
class Receiver:
    port: int = 0
    status: int = 200
    # What it answers besides the status (a redirect's Location, an oversized body).
    answer_headers: dict[str, str] = field(default_factory=dict)
    answer_body: bytes = b""
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    received: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [request for request in self.received if request.path == path]

    async def handle(self, request: Request) -> Response:
        body = (await request.body()).decode()
        self.received.append(Received(request.url.path, dict(request.headers), body))
        self.arrived.set()
        await self.gate.wait()
        return Response(self.answer_body, status_code=self.status, headers=self.answer_headers)


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    receiver.gate.set()
    app = Starlette(routes=[Route("/{path:path}", receiver.handle, methods=["POST"])])
    config = uvicorn.Config(app, host=HOST, port=0, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
        await asyncio.sleep(0.01)
    receiver.port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        receiver.gate.set()
        server.should_exit = True
        with suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
