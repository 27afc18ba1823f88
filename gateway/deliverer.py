"""The webhook delivery worker's lifecycle (resolvers/webhooks/delivery.py), modelled on gateway/sweeper.py.

Every `serve` worker runs it in the background (unless DPOR_WEBHOOK_DELIVERY_INTERVAL_SECONDS is 0), and
`dpor-gateway deliver` runs it alone. Several at once are safe: each delivery is claimed by one (FOR UPDATE SKIP
LOCKED and a lease), the sequencer runs in one at a time. A pass that found work is followed at once by the next;
an idle one waits `interval_seconds`, or less: a change event committed or published anywhere rings it at once
(db/change_notifications.py), so the interval is only the safety net. A failing pass (the database away, say) is
logged and retried after the interval: it never stops the process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from db.change_notifications import wakeup_for
from db.engine import Database
from gateway.background import in_background
from resolvers.webhooks.delivery import DeliveryConfig, deliver_once
from resolvers.webhooks.transport import Sender

log = logging.getLogger(__name__)


def sender_for(config: DeliveryConfig) -> Sender:
    return Sender(
        timeout_seconds=config.timeout_seconds,
        max_response_bytes=config.max_response_bytes,
        allow_private=config.allow_private,
    )


async def deliver_every(
    database: Database, config: DeliveryConfig, interval_seconds: float, stop: asyncio.Event | None = None
) -> None:
    """Delivery passes until `stop` is set (between passes) or the task is cancelled."""
    sender = sender_for(config)
    waiter = wakeup_for(database.engine).waiter()
    try:
        while stop is None or not stop.is_set():
            try:
                report = await deliver_once(database, sender, config)
            except Exception:  # CancelledError is not an Exception: cancelling stops the loop
                log.exception("webhook delivery pass failed; trying again in %s s", interval_seconds)
                await waiter.wait(interval_seconds, stop)
                continue
            if not report.published and not report.attempted:
                await waiter.wait(interval_seconds, stop)
    finally:
        waiter.close()
        await sender.aclose()


@asynccontextmanager
async def delivering(database: Database, config: DeliveryConfig, interval_seconds: float) -> AsyncIterator[None]:
    """Delivers in the background while the block runs (not at all for an interval of 0)."""
    work = (lambda stop: deliver_every(database, config, interval_seconds, stop)) if interval_seconds > 0 else None
    async with in_background(work, "dpor-webhooks"):
        yield
