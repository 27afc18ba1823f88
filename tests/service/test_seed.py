"""The demo and synthetic datasets: what they contain, the invariants they keep, that loading repeats."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from db import partitions
from db.engine import Database
from db.enums import AssociationEndReason, AssociationType, DelegationStatus
from db.models import (
    AuditEvent,
    Base,
    DelegatedAdminRelationship,
    Partner,
    PartnerAssociation,
    Subscription,
    Tenant,
    TenantContact,
    UsageRecord,
)
from gateway.cli import main
from gateway.seed import demo
from gateway.seed.bulk import BulkWriter, table_of
from gateway.seed.catalog import COUNTRY_CURRENCY
from gateway.seed.rows import TENANT_COLUMNS
from gateway.seed.synthetic import NotEmptyError, SyntheticSpec, load_synthetic
from tests.conftest import empty_all_tables

TODAY = date(2026, 11, 22)
DPOR = AssociationType.DIGITAL_PARTNER_OF_RECORD
SMALL = SyntheticSpec(
    tenants=5,
    subscriptions_per_tenant=2,
    partners=4,
    days=10,
    meters_per_day=3,
    seed=7,
    end_date=date(2026, 3, 31),
)


async def _count(database: Database, model: type[Base]) -> int:
    async with database.read() as session:
        return int(await session.scalar(select(func.count()).select_from(table_of(model))) or 0)


async def _counts(database: Database) -> dict[str, int]:
    models = (Tenant, TenantContact, Partner, DelegatedAdminRelationship, Subscription, PartnerAssociation)
    return {table_of(model).name: await _count(database, model) for model in (*models, AuditEvent, UsageRecord)}


async def assert_invariants(database: Database) -> None:
    """What every seeded dataset must satisfy, whoever reads it: the product's rules and the data's shape."""
    async with database.read() as session:
        subscriptions = {s.id: s for s in await session.scalars(select(Subscription))}
        tenants = {t.id: t for t in await session.scalars(select(Tenant))}
        dpor_rows = (
            await session.scalars(
                select(PartnerAssociation)
                .where(PartnerAssociation.type == DPOR)
                .order_by(PartnerAssociation.subscription_id, PartnerAssociation.valid_from)
            )
        ).all()
        all_links = (await session.scalars(select(PartnerAssociation))).all()
        usage_shape = (
            await session.execute(
                select(
                    UsageRecord.subscription_id,
                    UsageRecord.currency,
                    func.count(),
                    func.count(func.distinct(UsageRecord.usage_date)),
                    func.count(func.distinct(UsageRecord.meter_id)),
                    func.max(UsageRecord.usage_date),
                ).group_by(UsageRecord.subscription_id, UsageRecord.currency)
            )
        ).all()
        amounts = (await session.scalars(select(UsageRecord.amount).limit(500))).all()

    for link in all_links:
        # Second precision, and an ended row says when, who and why.
        assert link.valid_from.microsecond == 0
        assert (link.valid_to is None) == (link.ended_by is None) == (link.end_reason is None)
        if link.valid_to is not None:
            assert link.valid_to > link.valid_from

    by_subscription: dict[uuid.UUID, list[PartnerAssociation]] = defaultdict(list)
    for row in dpor_rows:
        by_subscription[row.subscription_id].append(row)
    for subscription_id, history in by_subscription.items():
        assert sum(row.valid_to is None for row in history) <= 1
        for earlier, later in itertools.pairwise(history):
            # No overlap: a stint ends before (REPLACED: exactly when) the next begins.
            assert earlier.valid_to is not None and earlier.valid_to <= later.valid_from
            if earlier.end_reason is AssociationEndReason.REPLACED:
                assert earlier.valid_to == later.valid_from and earlier.partner_id != later.partner_id
        removed = history[-1].end_reason is AssociationEndReason.REMOVED_BY_OWNER
        assert subscriptions[subscription_id].version == 1 + len(history) + removed

    for subscription_id, currency, rows, days, meters, last_day in usage_shape:
        subscription = subscriptions[subscription_id]
        assert currency == COUNTRY_CURRENCY[tenants[subscription.tenant_id].country_code]
        assert rows == days * meters
        assert subscription.usage_data_as_of == last_day
    for amount in amounts:
        assert isinstance(amount, Decimal)
        exponent = amount.as_tuple().exponent
        assert isinstance(exponent, int) and exponent >= -6


# --- demo ---------------------------------------------------------------------------------------------------


async def test_demo_loads_a_small_realistic_dataset(database: Database) -> None:
    assert not await demo.demo_present(database)
    summary = await demo.load_demo(database, today=TODAY)

    assert summary.loaded
    assert await demo.demo_present(database)
    assert summary.rows == await _counts(database)
    assert 5 <= summary.rows["tenants"] <= 6
    assert 6 <= summary.rows["partners"] <= 8
    assert summary.rows["subscriptions"] == 15
    assert summary.rows["audit_events"] > 0
    await assert_invariants(database)


async def test_demo_usage_covers_thirteen_months_ending_yesterday(database: Database) -> None:
    await demo.load_demo(database, today=TODAY)
    async with database.read() as session:
        first, last = (
            await session.execute(select(func.min(UsageRecord.usage_date), func.max(UsageRecord.usage_date)))
        ).one()
        currencies = set(await session.scalars(select(UsageRecord.currency).distinct()))
        meters = (
            await session.execute(
                select(UsageRecord.subscription_id, func.count(func.distinct(UsageRecord.meter_id))).group_by(
                    UsageRecord.subscription_id
                )
            )
        ).all()
    assert (first, last) == (date(2025, 10, 22), date(2026, 11, 21))
    assert currencies == {"USD", "EUR", "GBP"}
    assert len(meters) == 15
    assert all(2 <= count <= 4 for _, count in meters)


@pytest.mark.parametrize(
    ("today", "first"),
    [
        (date(2026, 11, 22), date(2025, 10, 22)),
        (date(2026, 3, 31), date(2025, 2, 28)),
        (date(2026, 1, 1), date(2024, 12, 1)),
    ],
)
def test_usage_window_is_thirteen_months_back_clamped_to_month_end(today: date, first: date) -> None:
    assert demo.usage_window(today) == (first, today - timedelta(days=1))


async def test_demo_is_idempotent(database: Database) -> None:
    await demo.load_demo(database, today=TODAY)
    before = await _counts(database)

    again = await demo.load_demo(database, today=TODAY + timedelta(days=3))

    assert not again.loaded
    assert await _counts(database) == before


async def test_demo_constants_name_rows_a_dev_token_can_use(database: Database) -> None:
    await demo.load_demo(database, today=TODAY)
    now = datetime.now(UTC)
    async with database.read() as session:
        owner = await session.scalar(select(Tenant).where(Tenant.external_id == demo.DEMO_OWNER_TENANT_EXTERNAL_ID))
        assert owner is not None
        current_dpor_of_owner = set(
            await session.scalars(
                select(Partner.mpn_id)
                .join(PartnerAssociation, PartnerAssociation.partner_id == Partner.id)
                .join(Subscription, Subscription.id == PartnerAssociation.subscription_id)
                .where(
                    Subscription.tenant_id == owner.id,
                    PartnerAssociation.type == DPOR,
                    PartnerAssociation.valid_to.is_(None),
                )
            )
        )
        delegated = set(
            await session.scalars(
                select(Partner.mpn_id)
                .join(DelegatedAdminRelationship, DelegatedAdminRelationship.partner_id == Partner.id)
                .where(
                    DelegatedAdminRelationship.tenant_id == owner.id,
                    DelegatedAdminRelationship.status == DelegationStatus.ACTIVE,
                )
            )
        )
        external_ids = set(await session.scalars(select(Subscription.external_id)))
        mpn_ids = set(await session.scalars(select(Partner.mpn_id)))
        tenant_ids = set(await session.scalars(select(Tenant.external_id)))
        replaced = await session.scalar(
            select(func.count())
            .select_from(PartnerAssociation)
            .where(PartnerAssociation.end_reason == AssociationEndReason.REPLACED)
        )
        removed = await session.scalar(
            select(func.count())
            .select_from(PartnerAssociation)
            .where(PartnerAssociation.end_reason == AssociationEndReason.REMOVED_BY_OWNER)
        )
        types = set(await session.scalars(select(PartnerAssociation.type).distinct()))
        statuses = set(await session.scalars(select(DelegatedAdminRelationship.status)))
        latest_change = await session.scalar(select(func.max(PartnerAssociation.valid_from)))

    assert demo.DEMO_PARTNER_MPN_ID in current_dpor_of_owner
    assert demo.DEMO_DELEGATED_PARTNER_MPN_ID in delegated
    assert external_ids == set(demo.DEMO_SUBSCRIPTION_EXTERNAL_IDS)
    assert mpn_ids == set(demo.DEMO_PARTNER_MPN_IDS)
    assert tenant_ids == set(demo.DEMO_TENANT_EXTERNAL_IDS)
    assert all(mpn_id.isdigit() for mpn_id in mpn_ids)
    assert replaced and removed
    assert types == set(AssociationType)
    assert statuses == {DelegationStatus.ACTIVE, DelegationStatus.ENDED}
    assert latest_change is not None and latest_change < now


# --- synthetic ----------------------------------------------------------------------------------------------


async def test_synthetic_load_has_the_requested_size(database: Database) -> None:
    report = await load_synthetic(database, SMALL)

    counts = await _counts(database)
    assert {name: counts[name] for name in report.rows} == report.rows
    assert report.rows["tenants"] == 5
    assert report.rows["subscriptions"] == 10
    assert report.rows["partners"] == 4
    assert report.rows["usage_records"] == 5 * 2 * 10 * 3
    assert 1 <= report.rows["tenant_contacts"] <= 10
    async with database.read() as session:
        first, last = (
            await session.execute(select(func.min(UsageRecord.usage_date), func.max(UsageRecord.usage_date)))
        ).one()
    assert (first, last) == (date(2026, 3, 22), date(2026, 3, 31))
    await assert_invariants(database)


async def _fingerprint(database: Database) -> dict[str, list[tuple[object, ...]]]:
    """Every seeded row (usage without its serial id), sorted: equal fingerprints mean equal datasets."""
    fingerprint: dict[str, list[tuple[object, ...]]] = {}
    async with database.read() as session:
        for model in (
            Tenant,
            TenantContact,
            Partner,
            DelegatedAdminRelationship,
            Subscription,
            PartnerAssociation,
        ):
            table = table_of(model)
            rows = (await session.execute(select(*table.c))).all()
            fingerprint[table.name] = sorted(tuple(map(repr, row)) for row in rows)
        usage = table_of(UsageRecord)
        rows = (await session.execute(select(*(c for c in usage.c if c.name != "id")))).all()
        fingerprint[usage.name] = sorted(tuple(map(repr, row)) for row in rows)
    return fingerprint


async def test_synthetic_load_is_deterministic_for_a_seed(database: Database) -> None:
    await load_synthetic(database, SMALL)
    first = await _fingerprint(database)
    await empty_all_tables(database)
    await load_synthetic(database, SMALL)
    second = await _fingerprint(database)
    await empty_all_tables(database)
    await load_synthetic(database, dataclasses.replace(SMALL, seed=8))
    other_seed = await _fingerprint(database)

    assert first == second
    assert first["tenants"] != other_seed["tenants"]
    assert first["usage_records"] != other_seed["usage_records"]


async def test_synthetic_shape_over_many_subscriptions(database: Database) -> None:
    spec = SyntheticSpec(
        tenants=40, subscriptions_per_tenant=5, partners=30, days=60, meters_per_day=2, seed=3,
        end_date=date(2026, 6, 30),
    )  # fmt: skip
    await load_synthetic(database, spec)
    await assert_invariants(database)
    async with database.read() as session:
        current = await session.scalar(
            select(func.count())
            .select_from(PartnerAssociation)
            .where(PartnerAssociation.type == DPOR, PartnerAssociation.valid_to.is_(None))
        )
        reasons = set(await session.scalars(select(PartnerAssociation.end_reason).distinct()))
        types = set(await session.scalars(select(PartnerAssociation.type).distinct()))
    # About 0.8 of 200 subscriptions have a current DPOR; the bounds are wide, the seed fixes the draw.
    assert 130 <= (current or 0) <= 190
    assert {AssociationEndReason.REPLACED, AssociationEndReason.REMOVED_BY_OWNER} <= reasons
    assert types == set(AssociationType)


async def test_synthetic_load_keeps_usage_constraints(database: Database) -> None:
    """On PostgreSQL the load drops and recreates them: they must be back, enforcing, afterwards."""
    await load_synthetic(database, SMALL)
    async with database.read() as session:
        existing = (await session.scalars(select(UsageRecord).limit(1))).one()
    duplicate = {
        c.name: getattr(existing, c.key) for c in table_of(UsageRecord).c if c.name not in ("id", "ingested_at")
    }
    with pytest.raises(IntegrityError):
        async with database.write() as session:
            session.add(UsageRecord(**duplicate))
    with pytest.raises(IntegrityError):
        async with database.write() as session:
            session.add(UsageRecord(**{**duplicate, "subscription_id": uuid.uuid4()}))


async def test_synthetic_load_joins_demo_data_but_not_an_earlier_load(database: Database) -> None:
    await demo.load_demo(database, today=TODAY)
    await load_synthetic(database, SMALL)
    assert await _count(database, Tenant) == len(demo.DEMO_TENANT_EXTERNAL_IDS) + SMALL.tenants

    with pytest.raises(NotEmptyError):
        await load_synthetic(database, dataclasses.replace(SMALL, seed=99))
    assert await _count(database, Tenant) == len(demo.DEMO_TENANT_EXTERNAL_IDS) + SMALL.tenants


async def test_post_load_hooks_run_in_the_load_transaction_after_every_row(database: Database) -> None:
    seen: list[int] = []

    async def count_usage(connection: AsyncConnection) -> None:
        seen.append(int(await connection.scalar(select(func.count()).select_from(table_of(UsageRecord))) or 0))
        raise RuntimeError("a failing hook undoes the load")

    with pytest.raises(RuntimeError, match="undoes the load"):
        await load_synthetic(database, SMALL, post_load=[count_usage])

    assert seen == [SMALL.usage_rows()]
    assert await _count(database, UsageRecord) == 0
    assert await _count(database, Tenant) == 0


@pytest.mark.parametrize("meters", [0, 7])
def test_synthetic_spec_refuses_impossible_sizes(meters: int) -> None:
    with pytest.raises(ValueError, match="meters_per_day"):
        dataclasses.replace(SMALL, meters_per_day=meters)


# --- the bulk writer ----------------------------------------------------------------------------------------


async def test_bulk_rows_are_stored_as_the_orm_stores_them(database: Database) -> None:
    """Equality in SQL must find bulk-written values: on SQLite that needs the ORM's exact text format."""
    created = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
    external_id = uuid.uuid4()
    async with database.write() as session:
        writer = await BulkWriter.open(await session.connection())
        tenants = table_of(Tenant)
        row = (uuid.uuid4(), external_id, "Bulk", "bulk.example.com", "SE", "ACTIVE", created, created)
        await writer.insert(tenants, TENANT_COLUMNS, [row])
    async with database.read() as session:
        found = await session.scalar(select(Tenant).where(Tenant.created_at == created))
    assert found is not None and found.external_id == external_id and found.created_at == created


async def test_usage_fragments_round_trip_awkward_text_and_exact_decimals(database: Database) -> None:
    """The usage generator's path (COPY text on PostgreSQL): escapes and decimals survive unchanged."""
    await demo.load_demo(database, today=TODAY)
    usage = table_of(UsageRecord)
    sub_id = uuid.uuid5(demo.NAMESPACE, f"subscription/{demo.DEMO_SUBSCRIPTION_EXTERNAL_IDS[0]}")
    awkward = "tab\there, back\\slash, new\nline, \\N, ünïcode"
    values = {
        "subscription_id": sub_id,
        "usage_date": date(2020, 1, 1),
        "ingested_at": datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        "service_name": awkward,
        "meter_id": "m-awkward",
        "meter_name": awkward,
        "meter_category": "c",
        "unit": "1 Hour",
        "currency": "EUR",
        "quantity": Decimal("0.000001"),
        "amount": Decimal("9223372036854.775807"),  # the largest SQLite stores (scaled int64)
    }
    async with database.write() as session:
        # A write outside the ingest paths makes its month's partitions itself (db/partitions.py).
        await partitions.ensure_months(session, [values["usage_date"]])
        writer = await BulkWriter.open(await session.connection())
        bound = [writer.binder(usage, name)(value) for name, value in values.items()]
        row = writer.fragment(bound[:3], ends_row=False) + writer.fragment(bound[3:], ends_row=True)
        assert await writer.insert_fragments(usage, list(values), [row]) == 1
    async with database.read() as session:
        stored = await session.scalar(select(UsageRecord).where(UsageRecord.meter_id == "m-awkward"))
    assert stored is not None
    assert {name: getattr(stored, name) for name in values} == values


# --- the command --------------------------------------------------------------------------------------------


def test_seed_command_loads_demo_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_empty(database_url))
    monkeypatch.setenv("DPOR_DATABASE_URL", database_url)

    assert main(["seed", "--demo"]) == 0
    assert "demo data loaded" in capsys.readouterr().out
    assert main(["seed", "--demo"]) == 0
    assert "already present" in capsys.readouterr().out


def test_seed_command_loads_synthetic_data(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_empty(database_url))
    monkeypatch.setenv("DPOR_DATABASE_URL", database_url)
    args = ["seed", "--tenants", "3", "--subscriptions-per-tenant", "2", "--partners", "2", "--days", "5"]

    assert main([*args, "--meters-per-day", "2", "--end-date", "2026-01-31"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split() for line in out if line.strip().startswith("usage_records")] == [["usage_records", "60"]]
    assert "rows/s" in out[-1]
    assert main(args) == 1  # not a fresh database any more
    assert "freshly migrated" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["seed"],
        ["seed", "--demo", "--tenants", "3"],
        ["seed", "--tenants", "3", "--partners", "2"],
        ["seed", "--tenants", "3", "--subscriptions-per-tenant", "1", "--partners", "1", "--days", "1",
         "--meters-per-day", "9"],
    ],
)  # fmt: skip
def test_seed_command_refuses_incomplete_or_impossible_arguments(
    args: list[str], database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DPOR_DATABASE_URL", database_url)
    assert main(args) == 2
    assert capsys.readouterr().err.startswith("seed: ")


async def _empty(url: str) -> None:
    database = Database.from_url(url)
    try:
        await empty_all_tables(database)
    finally:
        await database.dispose()
