"""The demo dataset: a few realistic tenants, partners and subscriptions, loaded by `make run` on first start.

Ids are fixed constants, defined with the data in gateway/seed/demo_data.py and exported here
(DEMO_OWNER_TENANT_EXTERNAL_ID, DEMO_PARTNER_MPN_ID, DEMO_DELEGATED_PARTNER_MPN_ID, ...), so a dev token
minted from them works against the demo data on any machine. Times are relative to the day of loading: usage
covers the 13 months ending yesterday (UTC), and the partner-of-record changes fall inside that window, at
whole seconds as association intervals are stored.

What it shows: DPOR histories of every kind (kept since before the window, replaced mid-window, replaced
twice, removed by the owner, never set), the other association types, an active and an ended delegated admin
relationship, the audit events those changes left, and usage in three currencies.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.engine import Database
from db.enums import DelegationStatus, SubscriptionStatus, TenantStatus
from db.models import (
    AuditEvent,
    DelegatedAdminRelationship,
    Partner,
    PartnerAssociation,
    Subscription,
    Tenant,
    TenantContact,
    UsageRecord,
)
from gateway.seed.bulk import BulkWriter, Fragment, Row, table_of
from gateway.seed.catalog import COUNTRY_CURRENCY, METERS
from gateway.seed.demo_data import (
    DELEGATIONS,
    DEMO_DELEGATED_PARTNER_MPN_ID,
    DEMO_OWNER_TENANT_EXTERNAL_ID,
    DEMO_PARTNER_MPN_ID,
    DEMO_PARTNER_MPN_IDS,
    DEMO_SUBSCRIPTION_EXTERNAL_IDS,
    DEMO_TENANT_EXTERNAL_IDS,
    PARTNERS,
    SUBSCRIPTIONS,
    TENANTS,
    At,
    DemoSubscription,
)
from gateway.seed.rows import (
    ASSOCIATION_COLUMNS,
    AUDIT_COLUMNS,
    CONTACT_COLUMNS,
    DELEGATION_COLUMNS,
    PARTNER_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    TENANT_COLUMNS,
    Removal,
    Stint,
    dpor_history,
    version_after,
)
from gateway.seed.usage import COLUMNS as USAGE_COLUMNS
from gateway.seed.usage import UsageRows
from resolvers.usage.rollups import rebuild_rollups

__all__ = [
    "DEMO_DELEGATED_PARTNER_MPN_ID",
    "DEMO_OWNER_TENANT_EXTERNAL_ID",
    "DEMO_PARTNER_MPN_ID",
    "DEMO_PARTNER_MPN_IDS",
    "DEMO_SUBSCRIPTION_EXTERNAL_IDS",
    "DEMO_TENANT_EXTERNAL_IDS",
    "NAMESPACE",
    "DemoSummary",
    "demo_present",
    "load_demo",
    "usage_window",
]

# Internal row ids are derived from names in this namespace, so they too are the same on every machine.
NAMESPACE = uuid.UUID("c8a4e0b2-6d1f-4f3a-8b7e-2a9c5d0e1f46")
MONTHS_OF_USAGE = 13
USAGE_SEED = "demo"


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What `load_demo` did; `loaded` is False when the demo data was there already (nothing written)."""

    loaded: bool
    rows: dict[str, int]
    first_day: date | None = None
    last_day: date | None = None


def usage_window(today: date) -> tuple[date, date]:
    """The first and last day of usage: the 13 months that end yesterday."""
    months = today.year * 12 + today.month - 1 - MONTHS_OF_USAGE
    year, month = divmod(months, 12)
    first = date(year, month + 1, 1)
    # Same day of the month 13 months back, or that month's last day when it is shorter.
    day = min(today.day, ((first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)).day)
    return first.replace(day=day), today - timedelta(days=1)


def _id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "/".join(str(part) for part in parts))


def _owner_subject(tenant_key: str) -> str:
    return f"demo-owner@{tenant_key}"


async def _present(connection: AsyncConnection) -> bool:
    found = await connection.scalar(
        select(table_of(Tenant).c.id).where(table_of(Tenant).c.external_id == DEMO_OWNER_TENANT_EXTERNAL_ID)
    )
    return found is not None


async def demo_present(database: Database) -> bool:
    async with database.read() as session:
        return await _present(await session.connection())


async def load_demo(database: Database, *, today: date | None = None) -> DemoSummary:
    """Load the demo dataset in one transaction, unless it is already there."""
    today = today or datetime.now(UTC).date()
    first_day, last_day = usage_window(today)
    async with database.write() as session:
        connection = await session.connection()
        # Checked inside the write transaction: on SQLite it holds the write lock; on PostgreSQL a concurrent
        # loader fails on the unique external ids instead of loading twice.
        if await _present(connection):
            return DemoSummary(loaded=False, rows={})
        writer = await BulkWriter.open(connection)
        rows: dict[str, int] = {}
        for table, columns, generated in _tables(first_day, last_day):
            rows[table.name] = await writer.insert(table, columns, generated)
        usage = UsageRows(writer, first_day=first_day, days=(last_day - first_day).days + 1, seed=USAGE_SEED)
        rows[UsageRecord.__tablename__] = await writer.insert_fragments(
            table_of(UsageRecord), USAGE_COLUMNS, _usage_rows(usage)
        )
        # Usage was written directly, not through ingestion: derive the rollups (and freshness) from it, in the
        # same transaction, so aggregates see the demo and later imports move the rollups by exact deltas.
        await rebuild_rollups(connection)
    return DemoSummary(loaded=True, rows=rows, first_day=first_day, last_day=last_day)


def _tables(first_day: date, last_day: date) -> Iterator[tuple[Table, tuple[str, ...], Iterator[Row]]]:
    yield table_of(Tenant), TENANT_COLUMNS, _tenant_rows(first_day)
    yield table_of(TenantContact), CONTACT_COLUMNS, _contact_rows(first_day)
    yield table_of(Partner), PARTNER_COLUMNS, _partner_rows(first_day)
    yield table_of(DelegatedAdminRelationship), DELEGATION_COLUMNS, _delegation_rows(first_day)
    yield table_of(Subscription), SUBSCRIPTION_COLUMNS, _subscription_rows(first_day, last_day)
    yield table_of(PartnerAssociation), ASSOCIATION_COLUMNS, _association_rows(first_day)
    yield table_of(AuditEvent), AUDIT_COLUMNS, _audit_rows(first_day)


_TENANTS = {tenant.key: tenant for tenant in TENANTS}
_TENANT_CREATED = At(-1200, "09:00:00")
_PARTNER_CREATED = At(-1500, "09:00:00")
_SUBSCRIPTION_CREATED = At(-800, "12:00:00")


def _tenant_rows(first_day: date) -> Iterator[Row]:
    created = _TENANT_CREATED.on(first_day)
    for t in TENANTS:
        yield (
            _id("tenant", t.key),
            t.external_id,
            t.name,
            t.domain,
            t.country,
            TenantStatus.ACTIVE,
            created,
            created,
        )


def _contact_rows(first_day: date) -> Iterator[Row]:
    created = _TENANT_CREATED.on(first_day)
    for t in TENANTS:
        for name, email, phone in t.contacts:
            yield (_id("contact", email), _id("tenant", t.key), name, email, phone, created)


def _partner_rows(first_day: date) -> Iterator[Row]:
    for mpn_id, name, country in PARTNERS:
        yield (_id("partner", mpn_id), mpn_id, name, country, _PARTNER_CREATED.on(first_day))


def _delegation_rows(first_day: date) -> Iterator[Row]:
    for tenant, mpn_id, created, ended in DELEGATIONS:
        status = DelegationStatus.ACTIVE if ended is None else DelegationStatus.ENDED
        yield (
            _id("delegation", tenant, mpn_id),
            _id("tenant", tenant),
            _id("partner", mpn_id),
            status,
            created.on(first_day),
            None if ended is None else ended.on(first_day),
        )


def _history(sub: DemoSubscription, first_day: date) -> tuple[list[Stint], Removal | None]:
    owner = _owner_subject(sub.tenant)
    stints = [Stint(_id("partner", mpn_id), since.on(first_day), owner) for mpn_id, since in sub.dpor]
    removal = None if sub.removed is None else Removal(sub.removed.on(first_day), owner)
    return stints, removal


def _subscription_rows(first_day: date, last_day: date) -> Iterator[Row]:
    for sub in SUBSCRIPTIONS:
        stints, removal = _history(sub, first_day)
        yield (
            _id("subscription", sub.external_id),
            sub.external_id,
            _id("tenant", sub.tenant),
            sub.offer,
            sub.name,
            SubscriptionStatus.ACTIVE,
            _SUBSCRIPTION_CREATED.on(first_day),
            version_after(stints, removal),
            last_day,
        )


def _association_rows(first_day: date) -> Iterator[Row]:
    for sub in SUBSCRIPTIONS:
        subscription_id = _id("subscription", sub.external_id)
        stints, removal = _history(sub, first_day)
        yield from dpor_history(subscription_id, stints, removal, functools.partial(_id, "dpor", sub.external_id))
        owner = _owner_subject(sub.tenant)
        for link in sub.links:
            ended_at, reason = (None, None) if link.ended is None else (link.ended[0].on(first_day), link.ended[1])
            yield (
                _id("link", sub.external_id, link.type.name, link.mpn_id),
                subscription_id,
                _id("partner", link.mpn_id),
                link.type,
                link.since.on(first_day),
                ended_at,
                owner,
                None if ended_at is None else owner,
                reason,
            )


def _audit_rows(first_day: date) -> Iterator[Row]:
    """The events the mutations behind the histories above would have written."""
    for sub in SUBSCRIPTIONS:
        tenant_id, subscription_id = _id("tenant", sub.tenant), _id("subscription", sub.external_id)
        owner = _owner_subject(sub.tenant)
        previous: str | None = None
        changes: list[tuple[str | None, At]] = [(mpn_id, since) for mpn_id, since in sub.dpor]
        if sub.removed is not None:
            changes.append((None, sub.removed))
        for version, (mpn_id, at) in enumerate(changes, start=1):
            action = "removeDigitalPartnerOfRecord" if mpn_id is None else "setDigitalPartnerOfRecord"
            yield (
                _id("audit", sub.external_id, version),
                at.on(first_day),
                str(_id("request", sub.external_id, version)),
                owner,
                "OWNER",
                None,
                action,
                "Subscription",
                sub.external_id,
                tenant_id,
                subscription_id,
                {"partnerMpnId": previous, "version": version},
                {"partnerMpnId": mpn_id, "version": version + 1},
            )
            previous = mpn_id
    for tenant, mpn_id, _created, ended in DELEGATIONS:
        if ended is None:
            continue
        yield (
            _id("audit", "delegation", tenant, mpn_id),
            ended.on(first_day),
            str(_id("request", "delegation", tenant, mpn_id)),
            _owner_subject(tenant),
            "OWNER",
            None,
            "endDelegatedAdminRelationship",
            "DelegatedAdminRelationship",
            str(_id("delegation", tenant, mpn_id)),
            _id("tenant", tenant),
            None,
            {"status": DelegationStatus.ACTIVE.value, "partnerMpnId": mpn_id},
            {"status": DelegationStatus.ENDED.value, "partnerMpnId": mpn_id},
        )


def _usage_rows(usage: UsageRows) -> Iterator[Fragment]:
    for sub in SUBSCRIPTIONS:
        rng = random.Random(f"{USAGE_SEED}/{sub.external_id}")
        currency = COUNTRY_CURRENCY[_TENANTS[sub.tenant].country]
        pools = [usage.pool(meter, sub.tier, currency) for meter in rng.sample(METERS[sub.offer], sub.meters)]
        yield from usage.rows(_id("subscription", sub.external_id), pools, usage.noise(rng, len(pools)))
