"""The change feed behind GraphQL subscriptions (issue 15): one poller per process reads published change events
by `sequence` and fans each out to that process's subscribers.

Why a poll of the table: every worker shares the database, so an event committed through one worker is seen by
the pollers of all of them, with no broker to run; and `sequence` is gap-free in the order readers first see
events (db/change_event.py), so "everything after the last sequence read" misses nothing. The poller only runs
while this process has subscribers. It also runs the sequencer (resolvers/webhooks/sequencer.py, one at a time
across processes, SKIP LOCKED), so a subscriber waits for the poll interval, not for the webhook worker's pass.
And the interval is only the safety net: a change event committed or published in any process rings the poller
at once (db/change_notifications.py: PostgreSQL NOTIFY from a trigger; SQLite: this process's own commits).

A subscriber is told of events published after it joined; it filters them itself (resolvers/change_streams.py),
by the policy, for its caller.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from db.change_event import ChangeEvent
from db.change_notifications import Waiter, wakeup_for
from db.engine import Database
from db.row_security import SystemTask, system
from resolvers.webhooks import sequencer

log = logging.getLogger(__name__)

BATCH = 500
# How many events a subscriber that does not keep up may have waiting before it is dropped (closed, told why).
QUEUE_SIZE = 1_000


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """A published change event, as subscribers read it (a detached copy of the row)."""

    sequence: int
    id: uuid.UUID
    type: str
    occurred_at: datetime
    tenant_id: uuid.UUID | None
    subscription_id: uuid.UUID | None
    tenant_payload: dict[str, Any] | None
    partner_payloads: dict[str, Any]


class SubscriberTooSlow(Exception):
    """The subscriber's queue overflowed: it has missed events, so its stream ends rather than skip silently."""


class Listener:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[FeedEvent | SubscriberTooSlow] = asyncio.Queue(QUEUE_SIZE + 1)

    def offer(self, event: FeedEvent) -> bool:
        if self.queue.qsize() >= QUEUE_SIZE:
            self.queue.put_nowait(SubscriberTooSlow())
            return False
        self.queue.put_nowait(event)
        return True

    async def next(self) -> FeedEvent:
        item = await self.queue.get()
        if isinstance(item, SubscriberTooSlow):
            raise item
        return item


class ChangeFeed:
    def __init__(self, database: Database, interval_seconds: float) -> None:
        # One feed serves every subscriber: it reads all events, each stream filters by its caller's reach.
        self.database = database.acting(system(SystemTask.CHANGE_FEED))
        self.interval_seconds = interval_seconds
        self._listeners: set[Listener] = set()
        self._last: int | None = None  # the last sequence fanned out; None until the first subscriber joins
        # Rung by a subscriber joining, and by change notifications (db/change_notifications.py) while it runs.
        self._waiter = Waiter(wakeup_for(database.engine))

    @property
    def listener_count(self) -> int:
        """How many subscribers this process's feed is telling now (a stream counts once it passed its checks)."""
        return len(self._listeners)

    @asynccontextmanager
    async def listening(self) -> AsyncIterator[Listener]:
        """A listener told of every event published from now on, for as long as the block runs."""
        if self._last is None:
            self._last = await self._current_sequence()
        listener = Listener()
        self._listeners.add(listener)
        self._waiter.ring()
        try:
            yield listener
        finally:
            self._listeners.discard(listener)
            if not self._listeners:
                # The poller rests: the next listener starts from the sequence of its own arrival, not from here
                # (it would be told of what was published while nobody listened).
                self._last = None

    async def _current_sequence(self) -> int:
        async with self.database.read() as session:
            return int(await session.scalar(select(func.coalesce(func.max(ChangeEvent.sequence), 0))) or 0)

    async def poll_once(self) -> int:
        """Publish what is committed, then fan out what was published since the last poll; how many fanned out."""
        # A read first: with a wake-up per commit, most polls find nothing to publish, and a write transaction
        # would take SQLite's database-wide write lock (PostgreSQL: a BEGIN, a row lock attempt, a COMMIT) for it.
        async with self.database.read() as session:
            unpublished = await session.scalar(
                select(ChangeEvent.position).where(ChangeEvent.sequence.is_(None)).limit(1)
            )
        if unpublished is not None:
            async with self.database.write() as session:
                await sequencer.publish(session)
        last = self._last
        if last is None:
            return 0
        async with self.database.read() as session:
            rows = (
                await session.scalars(
                    select(ChangeEvent).where(ChangeEvent.sequence > last).order_by(ChangeEvent.sequence).limit(BATCH)
                )
            ).all()
            events = [_detached(row) for row in rows]
        if self._last != last:  # every listener left (and maybe a new one came) while this read ran
            return 0
        for event in events:
            for listener in list(self._listeners):
                if not listener.offer(event):
                    self._listeners.discard(listener)
            self._last = event.sequence
        return len(events)

    async def run(self, stop: asyncio.Event) -> None:
        """Polls until `stop`, only while someone listens: when rung, or every interval; a full batch is followed
        at once by the next."""
        self._waiter.open()
        try:
            while not stop.is_set():
                if not self._listeners:
                    await self._waiter.wait(None, stop)
                    continue
                try:
                    fanned_out = await self.poll_once()
                except Exception:  # CancelledError is not an Exception: cancelling stops the loop
                    log.exception("change feed poll failed; trying again in %s s", self.interval_seconds)
                    fanned_out = 0
                if fanned_out < BATCH:
                    await self._waiter.wait(self.interval_seconds, stop)
        finally:
            self._waiter.close()


def _detached(row: ChangeEvent) -> FeedEvent:
    assert row.sequence is not None
    return FeedEvent(
        sequence=row.sequence,
        id=row.id,
        type=row.type,
        occurred_at=row.occurred_at,
        tenant_id=row.tenant_id,
        subscription_id=row.subscription_id,
        tenant_payload=row.tenant_payload,
        partner_payloads=dict(row.partner_payloads),
    )
