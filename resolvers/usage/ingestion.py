"""`ingest_usage`: write a batch of usage records, all or nothing, keeping rollups and freshness exact.

A record whose natural key (subscription, usage date, meter id) is already stored replaces it: a correction.
The rollups move by the difference (new minus replaced), so re-sending a day never counts it twice. A record
naming a subscription that does not exist or is DELETED is refused (validation.subscription_problem).

The batch is set-based: one query resolves (and, on PostgreSQL, locks) the subscriptions, one reads the stored
records for the batch's natural keys, one upsert writes the records, one upsert per rollup table applies the
deltas, one UPDATE moves freshness. Locking the subscription rows (in id order) first is what makes the read
of the replaced records trustworthy: a concurrent batch for the same subscriptions waits until this one
commits, so it sees these records and subtracts the right values. On SQLite the write session's BEGIN
IMMEDIATE already serializes writers. Call it inside a write transaction (Database.write()); it does not
commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Date, String, Table, any_, bindparam, case, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from db.base import utcnow
from db.enums import SubscriptionStatus
from db.models import Subscription, UsageRecord
from resolvers.usage.partitions import ensure_months
from resolvers.usage.rollups import Contribution, apply_deltas, compute_deltas
from resolvers.usage.validation import (
    UsageInputError,
    UsageRecordInput,
    ValidRecord,
    subscription_problem,
    validate_batch,
)

USAGE: Table = UsageRecord.__table__  # type: ignore[assignment]
SUBSCRIPTIONS: Table = Subscription.__table__  # type: ignore[assignment]
# Natural keys per IN (...) list: 3 parameters each, under the drivers' 32,767-parameter limit.
_KEYS_PER_STATEMENT = 5_000
_NATURAL_KEY = ("subscription_id", "usage_date", "meter_id")


@dataclass(frozen=True, slots=True)
class Freshness:
    """The latest usage day ingested for a subscription, after the batch."""

    subscription_id: uuid.UUID
    external_id: str
    usage_data_as_of: date


@dataclass(frozen=True, slots=True)
class IngestResult:
    inserted: int
    replaced: int
    freshness: tuple[Freshness, ...]


@dataclass(frozen=True, slots=True)
class KnownSubscription:
    id: uuid.UUID
    usage_data_as_of: date | None
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE

    @property
    def deleted(self) -> bool:
        return self.status is SubscriptionStatus.DELETED


async def ingest_usage(
    session: AsyncSession, records: Sequence[UsageRecordInput], *, today: date | None = None
) -> IngestResult:
    """Validate and write the batch, or raise UsageInputError listing every bad record and writing nothing."""
    valid, problems = validate_batch(records, today=today)
    # Resolved even when other records are bad, so one error lists every problem of the batch.
    candidates = {record.subscription_id for record in records if isinstance(record.subscription_id, str)}
    known = await resolve_subscriptions(session, candidates)
    for index, record in enumerate(records):
        named = record.subscription_id if isinstance(record.subscription_id, str) else ""
        if named and (problem := subscription_problem(index, known.get(named))) is not None:
            problems.append(problem)
    if problems:
        raise UsageInputError(sorted(problems, key=lambda problem: problem.index))
    return await write_records(session, [record for _index, record in valid], known)


async def resolve_subscriptions(session: AsyncSession, external_ids: Collection[str]) -> dict[str, KnownSubscription]:
    """Map external ids to subscriptions (deleted ones too), locking them FOR UPDATE in id order (a no-op on
    SQLite). Locking also keeps a concurrent setSubscriptionStatus from deleting one while the batch writes."""
    if not external_ids:
        return {}
    wanted: ColumnElement[bool]
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter: a file batch can name more subscriptions than a query may have parameters.
        ids = bindparam("external_ids", sorted(external_ids), type_=postgresql.ARRAY(String))
        wanted = SUBSCRIPTIONS.c.external_id == any_(ids)
    else:
        wanted = SUBSCRIPTIONS.c.external_id.in_(sorted(external_ids))
    query = (
        select(
            SUBSCRIPTIONS.c.external_id,
            SUBSCRIPTIONS.c.id,
            SUBSCRIPTIONS.c.usage_data_as_of,
            SUBSCRIPTIONS.c.status,
        )
        .where(wanted)
        .order_by(SUBSCRIPTIONS.c.id)
        .with_for_update()
    )
    rows = (await session.execute(query)).all()
    return {
        row.external_id: KnownSubscription(row.id, row.usage_data_as_of, SubscriptionStatus(row.status)) for row in rows
    }


async def write_records(
    session: AsyncSession, records: Sequence[ValidRecord], known: Mapping[str, KnownSubscription]
) -> IngestResult:
    """Upsert valid records of known, locked, not deleted subscriptions (no natural key twice); move rollups
    and freshness."""
    rows = [_usage_row(record, known[record.subscription_id].id) for record in records]
    await ensure_months(session, {row["usage_date"] for row in rows})
    replaced = await _stored_contributions(session, [tuple(row[key] for key in _NATURAL_KEY) for row in rows])
    dialect = session.get_bind().dialect.name
    await session.execute(_record_upsert(dialect), rows)
    added = [
        Contribution(
            row["subscription_id"],
            row["usage_date"],
            row["service_name"],
            row["currency"],
            row["quantity"],
            row["amount"],
        )
        for row in rows
    ]
    await apply_deltas(session, compute_deltas(added, replaced))
    freshness = await _advance_freshness(session, records, known)
    return IngestResult(inserted=len(rows) - len(replaced), replaced=len(replaced), freshness=freshness)


async def _stored_contributions(session: AsyncSession, keys: Sequence[tuple[Any, ...]]) -> list[Contribution]:
    columns = (
        USAGE.c.subscription_id,
        USAGE.c.usage_date,
        USAGE.c.service_name,
        USAGE.c.currency,
        USAGE.c.quantity,
        USAGE.c.amount,
    )
    natural_key = tuple_(*(USAGE.c[name] for name in _NATURAL_KEY))
    found: list[Contribution] = []
    for start in range(0, len(keys), _KEYS_PER_STATEMENT):
        chunk = keys[start : start + _KEYS_PER_STATEMENT]
        result = await session.execute(select(*columns).where(natural_key.in_(chunk)))
        found.extend(Contribution(*row) for row in result)
    return found


def _record_upsert(dialect: str) -> Any:
    insert = postgresql.insert(USAGE) if dialect == "postgresql" else sqlite.insert(USAGE)
    replaced_columns = (
        "service_name",
        "meter_name",
        "meter_category",
        "quantity",
        "unit",
        "amount",
        "currency",
        "ingested_at",
    )
    # A record equal to the stored one is left alone (ingested_at says when its values arrived): no new row version.
    changed = or_(*(USAGE.c[name] != insert.excluded[name] for name in replaced_columns if name != "ingested_at"))
    return insert.on_conflict_do_update(
        index_elements=list(_NATURAL_KEY),
        set_={name: insert.excluded[name] for name in replaced_columns},
        where=changed,
    )


def _usage_row(record: ValidRecord, subscription_id: uuid.UUID) -> dict[str, Any]:
    return {
        "subscription_id": subscription_id,
        "usage_date": record.usage_date,
        "service_name": record.service,
        "meter_id": record.meter_id,
        "meter_name": record.meter_name,
        # The service is the meter's category (what Azure calls MeterCategory); both columns hold it.
        "meter_category": record.service,
        "quantity": record.quantity,
        "unit": record.unit,
        "amount": record.amount,
        "currency": record.currency,
        "ingested_at": utcnow(),
    }


async def _advance_freshness(
    session: AsyncSession, records: Sequence[ValidRecord], known: Mapping[str, KnownSubscription]
) -> tuple[Freshness, ...]:
    latest_in_batch: dict[str, date] = {}
    for record in records:
        current = latest_in_batch.get(record.subscription_id)
        if current is None or record.usage_date > current:
            latest_in_batch[record.subscription_id] = record.usage_date
    column = SUBSCRIPTIONS.c.usage_data_as_of
    latest = bindparam("latest", type_=Date)
    # Only forward: a late correction for an old day must not make the data look staler than it is.
    statement = (
        update(SUBSCRIPTIONS)
        .where(SUBSCRIPTIONS.c.id == bindparam("subscription"))
        .values(usage_data_as_of=case((or_(column.is_(None), column < latest), latest), else_=column))
    )
    await session.execute(
        statement,
        [{"subscription": known[external].id, "latest": day} for external, day in sorted(latest_in_batch.items())],
    )
    return tuple(
        Freshness(
            subscription_id=known[external].id,
            external_id=external,
            usage_data_as_of=max(day, known[external].usage_data_as_of or day),
        )
        for external, day in sorted(latest_in_batch.items())
    )
