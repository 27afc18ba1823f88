"""Nothing that committed is lost (db/change_event.py, resolvers/webhooks/sequencer.py): an event whose transaction
commits after one written later is published after it, with the next sequence, and a feed that already read past
the later one is still told of it.

PostgreSQL only: there two write transactions run at once and may commit against the order of their positions.
SQLite serializes writers (a write session holds the database's write lock from its BEGIN), so the race cannot
arise there; the class is not collected without PostgreSQL (no skip)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from db.change_event import ChangeEvent
from db.engine import Database
from resolvers.change_feed import ChangeFeed, FeedEvent, Listener
from tests import databases


def _event(event_type: str) -> ChangeEvent:
    return ChangeEvent(
        id=uuid.uuid4(), type=event_type, audit_event_id=uuid.uuid4(), tenant_payload={}, partner_payloads={}
    )


async def _told(listener: Listener) -> FeedEvent:
    return await asyncio.wait_for(listener.next(), 5)


class TestLateCommits:
    __test__ = "postgresql" in databases.backends()
    pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

    async def test_an_event_committed_after_a_later_written_one_is_told_after_it(self, database: Database) -> None:
        feed = ChangeFeed(database, interval_seconds=60)
        async with feed.listening() as listener:
            async with database.write() as slow:
                early = _event("claim.created")
                slow.add(early)
                await slow.flush()  # its position is taken; its transaction has not committed
                async with database.write() as fast:
                    late = _event("claim.declined")
                    fast.add(late)
                assert await feed.poll_once() == 1  # only what committed is published
                first = await _told(listener)
            assert await feed.poll_once() == 1  # the slow transaction committed: published now, not skipped
            second = await _told(listener)
        assert early.position < late.position
        assert (first.id, second.id) == (late.id, early.id)
        assert second.sequence == first.sequence + 1
