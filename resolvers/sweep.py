"""The sweep: what the gateway changes by itself because time passed, not because a caller asked.

- A delegated admin relationship past its `expires_at` ends at `expires_at`, and with it the partner's admin links
  on the tenant's subscriptions (ROLE_REVOKED), at that same instant (resolvers.delegations).
- A claim still PENDING at its `decline_by` becomes ACTIVE, attributed from its claim time (resolvers.claims).
- The usage tables' partitions of this month and the next db.partitions.AHEAD_MONTHS exist (PostgreSQL), so an
  ingest seldom has to create one (creating one locks more than an ingest otherwise does).
- Finished webhook deliveries and published change events past their retention are pruned (resolvers.retention).

The instants written are the rows' own (`expires_at`; a claim's validFrom stays its claim time), never the time the
sweep ran: its lag changes how soon the
rows say it, not what they say, so attribution stops at the expiry second however late the sweep comes. Access
itself stops at `expires_at` without it (auth.scope). The lag is bounded by how often it runs: every `serve`
worker runs it every DPOR_SWEEP_INTERVAL_SECONDS (gateway/sweeper.py), and `dpor-gateway sweep` runs it once.

Each item is changed in its own short write transaction (a sweep never holds many locks, and one failing item
leaves the others done) and re-checked under its lock, so sweeps running at once in several processes, or a caller
ending the same relationship meanwhile, change it once.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from db import clock, partitions
from db.engine import Database
from db.row_security import SystemTask, system
from resolvers import claims, delegations, retention
from resolvers.authorize import Actor
from resolvers.errors import Conflict
from resolvers.transaction import in_transaction

log = logging.getLogger(__name__)

# Items read per round; a sweep goes on while rounds come back full.
BATCH = 500
# Who the audit log and the association rows name for the sweep's changes (role: authorize.SYSTEM_ROLE).
SUBJECT = "dpor-gateway"


@dataclass(frozen=True)
class SweepReport:
    expired_relationships: int
    ripened_claims: int
    partitions_created: int = 0
    pruned_deliveries: int = 0
    pruned_events: int = 0

    @property
    def changed(self) -> int:
        return (
            self.expired_relationships
            + self.ripened_claims
            + self.partitions_created
            + self.pruned_deliveries
            + self.pruned_events
        )


async def sweep(database: Database, *, batch: int = BATCH, keep_events: timedelta | None = None) -> SweepReport:
    """One pass over everything due at this instant of the server's clock (db.clock); change events and their
    deliveries older than `keep_events` are pruned (None: kept)."""
    database = database.acting(system(SystemTask.SWEEP))
    now = clock.now_in_seconds()
    actor = Actor(SUBJECT, None, None, f"sweep-{uuid.uuid4().hex}")
    expired = await _each_due(
        database,
        lambda session: delegations.due_to_expire(session, now, batch),
        lambda session, item: delegations.expire(session, actor, item, now),
        batch,
    )
    ripened = await _each_due(
        database,
        lambda session: claims.due_to_ripen(session, now, batch),
        lambda session, item: claims.ripen(session, actor, item, now),
        batch,
    )
    created = 0
    if database.dialect == "postgresql":  # SQLite keeps plain tables: no write lock taken for nothing
        async with database.write() as session:
            created = await partitions.ensure_months(session, partitions.months_ahead(now.date()))
    pruned = retention.Pruned(0, 0) if keep_events is None else await retention.prune(database, now, keep_events)
    report = SweepReport(
        expired_relationships=expired,
        ripened_claims=ripened,
        partitions_created=created,
        pruned_deliveries=pruned.deliveries,
        pruned_events=pruned.events,
    )
    if report.changed:
        log.info(
            "sweep: %d expired delegated admin relationship(s) ended, %d claim(s) ripened, %d usage partition(s)"
            " created, %d webhook deliveries and %d change events past their retention pruned",
            expired,
            ripened,
            created,
            pruned.deliveries,
            pruned.events,
        )
    return report


async def _each_due(
    database: Database,
    due: Callable[[AsyncSession], Awaitable[Sequence[uuid.UUID]]],
    change: Callable[[AsyncSession, uuid.UUID], Awaitable[bool]],
    batch: int,
) -> int:
    """`change` each item `due` lists, one transaction each; the number changed. An item that raced a concurrent
    writer (CONFLICT) is left for the next sweep, and never tried twice in one."""
    changed, tried = 0, set[uuid.UUID]()
    while True:
        async with database.read() as session:
            items = [item for item in await due(session) if item not in tried]
        for item in items:
            tried.add(item)
            try:
                if await in_transaction(database, functools.partial(_apply, change, item)):
                    changed += 1
            except Conflict:
                log.info("sweep: %s raced a concurrent change; left for the next sweep", item)
        if len(items) < batch:
            return changed


async def _apply(
    change: Callable[[AsyncSession, uuid.UUID], Awaitable[bool]], item: uuid.UUID, session: AsyncSession
) -> bool:
    return await change(session, item)
