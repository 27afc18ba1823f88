"""A task that runs beside the server for as long as a block does (the sweep, webhook delivery): started on entry,
cancelled and awaited on exit, so the lifespan never leaves one running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from typing import Any


@asynccontextmanager
async def in_background(work: Callable[[], Coroutine[Any, Any, None]] | None, name: str) -> AsyncIterator[None]:
    """`work()` as a task while the block runs (nothing when `work` is None)."""
    if work is None:
        yield
        return
    task = asyncio.create_task(work(), name=name)
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
