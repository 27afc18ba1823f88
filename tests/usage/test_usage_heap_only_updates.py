"""A correction rewrites no index on PostgreSQL (revision 0013_usage_ingest_writes): the usage tables' partitions
keep half of each page free, so a re-sent record and the rollup rows it moves are heap-only (HOT) updates, on the
API's write path and on the file import's COPY path alike, in a month whose partitions the write itself made.
Collected only when a PostgreSQL server is configured (SQLite has no fillfactor)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from db import partitions
from db.engine import Database
from resolvers.usage import bulk
from resolvers.usage.ingestion import ingest_usage, resolve_subscriptions
from tests import databases
from tests.service.test_partitions import TODAY, without_partitions
from tests.usage_helpers import build_world, record

__test__ = "postgresql" in databases.backends()
on_postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

MONTH = date(2025, 8, 1)
DAYS = ("2025-08-10", "2025-08-11")
# Records enough to fill several pages: a full page (the default fillfactor) has no room for their new versions.
METERS = [f"meter-{index}" for index in range(150)]
# This transaction's updates per partition, and of those the heap-only ones (an upsert that updates counts an
# insert too: the speculative one its conflict turned into the update).
_WRITES = (
    "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = ANY(CAST(:names AS text[]))"
)
_FILLFACTORS = "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(CAST(:names AS text[]))"
_NAMES = [partitions.partition_name(table, MONTH) for table in partitions.PARENTS]


def _payload(external_id: str, amount: str) -> bytes:
    return bulk.copy_payload(
        [
            (external_id, day, "Compute", meter, f"{meter} name", "1", "Hours", amount, "USD")
            for day in DAYS
            for meter in METERS
        ]
    )


@on_postgresql
@pytest.mark.parametrize("path", ["api", "file"])
async def test_a_re_sent_record_and_its_rollups_are_heap_only_updates(database: Database, path: str) -> None:
    await without_partitions(database, MONTH)
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    subscription = world.subscriptions[0]
    for attempt, amount in enumerate(("1.00", "2.50")):
        async with database.write() as session:
            if path == "api":
                batch = [record(subscription, day, meter=meter, amount=amount) for day in DAYS for meter in METERS]
                await ingest_usage(session, batch, today=TODAY)
            else:
                await resolve_subscriptions(session, {subscription.external_id})
                await bulk.copy_text(session, _payload(subscription.external_id, amount))
            writes = {row[0]: tuple(row[1:]) for row in await session.execute(text(_WRITES), {"names": _NAMES})}
        records, daily, monthly = _NAMES
        if attempt == 0:
            # Records, two daily rows and one monthly row inserted into partitions the write made.
            assert writes == {records: (0, 0), daily: (0, 0), monthly: (0, 0)}
        else:
            # Re-sent: every row updated in place, (nearly) none through a new index entry. A page holds half
            # its room in rows, and its header and line pointers come out of the other half, so now and then a
            # page's last row finds no room for its new version (5 of these 300). At the default fillfactor
            # none of the 300 was heap-only.
            updated, heap_only = writes.pop(records)
            assert updated == 2 * len(METERS) and heap_only >= 0.95 * updated
            assert writes == {daily: (2, 2), monthly: (1, 1)}
    async with database.engine.connect() as connection:
        options = {row[0]: row[1] for row in await connection.execute(text(_FILLFACTORS), {"names": _NAMES})}
    assert options == {name: ["fillfactor=50"] for name in _NAMES}
