"""A response's status line and headers go out with its body in one write (gateway/http_protocol.py,
HeadWithBody), and nothing is lost or reordered when no body follows at once."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.http_protocol import HeadWithBody


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "a write after close"
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> Any:
        return f"extra {name}"


def _wrapped() -> tuple[_Transport, HeadWithBody]:
    transport = _Transport()
    return transport, HeadWithBody(transport, asyncio.get_running_loop())  # type: ignore[arg-type]


async def test_the_head_and_the_body_are_one_write() -> None:
    transport, response = _wrapped()
    response.write(b"HTTP/1.1 200 OK\r\n\r\n")
    response.write(b"body")
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    response.write(b"more")  # a chunked body's later chunks go out as they come
    await asyncio.sleep(0)
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"more"]


async def test_a_head_without_a_body_at_once_goes_out_at_the_loops_next_turn() -> None:
    transport, response = _wrapped()
    response.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert transport.writes == []
    await asyncio.sleep(0)
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\n"]
    response.write(b"later")
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\n", b"later"]


async def test_closing_writes_the_held_head_first() -> None:
    transport, response = _wrapped()
    response.write(b"HTTP/1.1 200 OK\r\n\r\n")
    response.close()
    assert (transport.writes, transport.closed) == ([b"HTTP/1.1 200 OK\r\n\r\n"], True)
    await asyncio.sleep(0)  # the scheduled flush finds nothing held
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\n"]


async def test_everything_else_is_the_connections_transport() -> None:
    transport, response = _wrapped()
    assert response.get_extra_info("peername") == "extra peername"
    assert not response.is_closing()
    transport.close()
    assert response.is_closing()
