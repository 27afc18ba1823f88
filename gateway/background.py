"""A task that runs beside the server for as long as a block does (the sweep, webhook delivery, the change feed,
the LISTEN connection): started on entry, asked to stop on exit, and awaited, so the lifespan never leaves one
running.

Stopping is asked, not forced: the task is given an `asyncio.Event` that is set on exit, and its loop ends at its
next pause (between passes). Cancelling a task in the middle of a statement leaves SQLAlchemy's pooled connection
mid-protocol: it cannot be given back, and the garbage collector later warns of a connection it had to clean up
(tests saw it fail a later test). Only a task still busy after `grace_seconds` is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from typing import Any

log = logging.getLogger(__name__)

GRACE_SECONDS = 5.0
Work = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@asynccontextmanager
async def in_background(work: Work | None, name: str, *, grace_seconds: float = GRACE_SECONDS) -> AsyncIterator[None]:
    """`work(stop)` as a task while the block runs (nothing when `work` is None); `stop` is set when it ends."""
    if work is None:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(work(stop), name=name)
    try:
        yield
    finally:
        stop.set()
        done, _pending = await asyncio.wait({task}, timeout=grace_seconds)
        if not done:
            log.warning("%s did not stop within %s s; cancelling it", name, grace_seconds)
            task.cancel()
        with suppress(asyncio.CancelledError):
            try:
                await task
            except Exception:
                log.exception("%s failed", name)
