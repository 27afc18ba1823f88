"""The sweep run in the background of a serving process, every `sweep_interval_seconds` (resolvers/sweep.py).

Started and stopped by the app's lifespan (gateway/app.py). With `serve --workers N` every worker sweeps: the sweep
re-checks each item under its lock, so N of them change each item once; N only shortens the lag. A failing sweep
(the database away, say) is logged and tried again at the next interval: it never stops the process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta

from db.engine import Database
from gateway.background import in_background
from resolvers.sweep import sweep

log = logging.getLogger(__name__)


async def sweep_every(
    database: Database, interval_seconds: float, stop: asyncio.Event, keep_events: timedelta | None = None
) -> None:
    """Wait `interval_seconds`, then sweep, until `stop`. The first sweep comes one interval after start-up (a
    process starting is not made slower, and what came due while none ran is caught up then)."""
    while True:
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_seconds)
        if stop.is_set():
            return
        try:
            await sweep(database, keep_events=keep_events)
        except Exception:
            log.exception("sweep failed; trying again in %s s", interval_seconds)


@asynccontextmanager
async def sweeping(
    database: Database, interval_seconds: float, keep_events: timedelta | None = None
) -> AsyncIterator[None]:
    """Sweeps in the background while the block runs (not at all for an interval of 0)."""
    work = (lambda stop: sweep_every(database, interval_seconds, stop, keep_events)) if interval_seconds > 0 else None
    async with in_background(work, "dpor-sweep"):
        yield
