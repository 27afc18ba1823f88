"""Every aggregate equals the naive sum of the raw records (tests/usage_oracle.py), on both databases.

Random usage, random corrections (re-ingested natural keys with new values, services and currencies) and
random association histories (second-precision intervals, replacements, gaps, open ends), and partner admin links
bound to delegated admin relationships that the real code ends (by hand at a server-clock second, or by the sweep
after their expiry; resolvers.delegations, resolvers.sweep), so a link's interval is cut at its relationship's end
second, and stays open while the relationship is active; then random queries
(window, grouping, filter, scope) by hypothesis, and every grouping combination under every scope on one fixed
scenario. The batched path (several subscriptions, tenants or partners in one query, split per parent, as the
DataLoaders of the nested usage fields call it) is checked the same way: each parent's rows against the oracle
for that parent alone, and against its own query, order included.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import os
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Role
from auth.scope import CallerScope, resolve_scope
from db import clock
from db.delegation import DelegatedAdminRelationship
from db.engine import Database
from db.enums import AssociationEndReason, AssociationStatus, AssociationType, RecognitionRole
from db.models import PartnerAssociation
from resolvers.delegations import end_delegated_admin_relationship
from resolvers.sweep import sweep
from resolvers.transaction import in_transaction
from resolvers.usage.aggregate_types import AggregateFilter, GroupBy
from resolvers.usage.aggregates import usage_aggregates
from resolvers.usage.by_parent import PARENTS, aggregates_by_parent
from resolvers.usage.ingestion import ingest_usage
from resolvers.usage.validation import UsageInputError, UsageRecordInput
from resolvers.usage.window import check_window
from tests import factories
from tests.api import principal
from tests.conftest import empty_all_tables
from tests.usage_helpers import ALL, PartnerScope, Scope, TenantScope, reach
from tests.usage_oracle import RawAssociation, RawRecord, canonical, expected_rows

FIRST_DAY = date(2026, 2, 20)  # 60 days: the end of February, all of March, most of April
DAYS = 60
MIDNIGHT = datetime(2026, 2, 20, tzinfo=UTC)
TENANTS = [uuid.UUID(int=1), uuid.UUID(int=2)]
SUBSCRIPTIONS = [uuid.UUID(int=11), uuid.UUID(int=12), uuid.UUID(int=13)]
TENANT_OF = {sub: TENANTS[index % 2] for index, sub in enumerate(SUBSCRIPTIONS)}
PARTNERS = [uuid.UUID(int=21), uuid.UUID(int=22), uuid.UUID(int=23)]
NOWHERE = uuid.UUID(int=99)  # a parent id that names nothing: its rows are empty, never an error
TYPES = [
    AssociationType.DIGITAL_PARTNER_OF_RECORD,
    AssociationType.TRANSACTING_PARTNER,
    AssociationType.CLAIMING_PARTNER_OF_RECORD,
]
PAL = AssociationType.PARTNER_ADMIN_LINK
# Every type attribution can be filtered by: the histories' and the access-bound admin links'.
FILTER_TYPES = [*TYPES, PAL]
# The sweep runs once, after every instant a scenario names: each expiry is swept, whatever the lag. A claim the
# oracle holds ripened (ACTIVE, still open) is written PENDING with its window closing at the sweep, which ripens it
# (resolvers.claims.ripen: attributed from its claim time); every other claim's window closes after it (DECLINE_BY).
SWEPT_AT = (DAYS + 4) * 86_400
RIPENS_AT = MIDNIGHT + timedelta(seconds=SWEPT_AT)
DECLINE_BY = RIPENS_AT + timedelta(days=30)
ADMIN = principal(Role.PLATFORM_ADMIN, subject="platform-admin")
# A claim's intervals in turn: ripened (ACTIVE, attributed from its claim time), PENDING, DECLINED (if it ended).
CLAIM_STATES = [AssociationStatus.ACTIVE, AssociationStatus.PENDING, AssociationStatus.DECLINED]
ROLES = [None, RecognitionRole.SELL_AND_DEPLOY, RecognitionRole.MANAGE_AND_USE]
SERVICES = ["Compute", "Storage"]
METERS = ["m1", "m2", "m3"]
CURRENCIES = ["USD", "JPY"]

# (subscription, day offset, meter, service, quantity, amount, currency)
RecordSpec = tuple[int, int, str, str, Decimal, Decimal, str]
# (which first-batch record, service, quantity, amount, currency)
CorrectionSpec = tuple[int, str, Decimal, Decimal, str]
# (subscription, type, partner, instants in seconds from the first day's midnight)
HistorySpec = tuple[int, AssociationType, int, list[int]]
# A delegated admin relationship and the partner's admin links on its tenant's subscriptions: (tenant, partner,
# expiry, ended by hand at, [(subscription, link starts)]), instants as above, None: never.
AdminLinkSpec = tuple[int, int, int | None, int | None, list[tuple[int, int]]]


@dataclass
class Scenario:
    records: list[RecordSpec]
    corrections: list[CorrectionSpec]
    histories: list[HistorySpec]
    admin_links: list[AdminLinkSpec] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class Query:
    filter: AggregateFilter
    group_by: frozenset[GroupBy]
    scope: Scope


@dataclass(frozen=True)
class Batch:
    """Several parents of one kind in one query; `query.filter` names no single parent of that kind."""

    query: Query
    parent: GroupBy
    parent_ids: frozenset[uuid.UUID]


PARENT_IDS = {GroupBy.SUBSCRIPTION: SUBSCRIPTIONS, GroupBy.TENANT: TENANTS, GroupBy.PARTNER: PARTNERS}


quantities = st.integers(0, 10**10).map(lambda units: Decimal(units).scaleb(-6))
amounts = st.integers(-(10**9), 10**11).map(lambda units: Decimal(units).scaleb(-6))
instants = st.one_of(
    st.sampled_from([-19 * 86_400, 9 * 86_400, 40 * 86_400]),  # 1 February, March, April: whole months
    st.integers(-3, DAYS + 3).map(lambda day: day * 86_400),
    st.integers(-3, DAYS + 3).map(lambda day: day * 86_400 + 43_200),
    st.integers(-3 * 86_400, (DAYS + 3) * 86_400),
)
histories = st.lists(
    st.tuples(
        st.integers(0, len(SUBSCRIPTIONS) - 1),
        st.sampled_from(TYPES),
        st.integers(0, len(PARTNERS) - 1),
        st.lists(instants, max_size=5, unique=True),
    ),
    min_size=2,
    max_size=10,
)
admin_links = st.lists(
    st.tuples(
        st.integers(0, len(TENANTS) - 1),
        st.integers(0, len(PARTNERS) - 1),
        st.none() | instants,
        st.none() | instants,
        st.lists(st.tuples(st.integers(0, len(SUBSCRIPTIONS) - 1), instants), max_size=3),
    ),
    max_size=3,
)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Histories first; then records, half of them on days where some association starts or ends (the days
    where attribution is fractional, and where an off-by-one-day mistake would show)."""
    drawn = draw(histories)
    links = draw(admin_links)
    points: list[int | None] = [point for *_, instants in drawn for point in instants]
    points += [point for *_, expiry, ended, starts in links for point in (expiry, ended, *[at for _, at in starts])]
    edges = sorted({p // 86_400 for p in points if p is not None and 0 <= p // 86_400 < DAYS})
    days = st.integers(0, DAYS - 1) | st.sampled_from(edges) if edges else st.integers(0, DAYS - 1)
    records = st.tuples(
        st.integers(0, len(SUBSCRIPTIONS) - 1),
        days,
        st.sampled_from(METERS),
        st.sampled_from(SERVICES),
        quantities,
        amounts,
        st.sampled_from(CURRENCIES),
    )
    corrections = st.tuples(
        st.integers(0, 10**6), st.sampled_from(SERVICES), quantities, amounts, st.sampled_from(CURRENCIES)
    )
    return Scenario(
        records=draw(st.lists(records, min_size=20, max_size=80)),
        corrections=draw(st.lists(corrections, max_size=12)),
        histories=drawn,
        admin_links=links,
    )


SCOPES: list[Scope] = [ALL, *map(TenantScope, TENANTS), *map(PartnerScope, PARTNERS)]
T = TypeVar("T")


@st.composite
def queries(draw: st.DrawFn) -> Query:
    # Half the windows are the whole period (most rows to compare), half anywhere inside it.
    start = draw(st.just(0) | st.integers(0, DAYS - 1))
    end = draw(st.just(DAYS - 1) | st.integers(start, DAYS - 1))

    def sometimes(values: list[T]) -> T | None:
        # Each filter is set about one time in four, so results are seldom empty.
        return draw(st.none() | st.none() | st.none() | st.sampled_from(values))

    return Query(
        filter=AggregateFilter(
            date_from=FIRST_DAY + timedelta(days=start),
            date_to=FIRST_DAY + timedelta(days=end),
            tenant_id=sometimes(list(TENANTS)),
            subscription_id=sometimes(list(SUBSCRIPTIONS)),
            partner_id=sometimes(list(PARTNERS)),
            association_type=sometimes(FILTER_TYPES),
            service=sometimes(list(SERVICES)),
        ),
        group_by=frozenset(draw(st.sets(st.sampled_from(list(GroupBy))))),
        scope=draw(st.sampled_from(SCOPES)),
    )


def own_filter(filter: AggregateFilter, parent: GroupBy, parent_id: uuid.UUID | None) -> AggregateFilter:
    """The filter of one parent's own query (None: no parent of that kind)."""
    if parent is GroupBy.SUBSCRIPTION:
        return dataclasses.replace(filter, subscription_id=parent_id)
    if parent is GroupBy.TENANT:
        return dataclasses.replace(filter, tenant_id=parent_id)
    return dataclasses.replace(filter, partner_id=parent_id)


def batch_of(query: Query, parent: GroupBy, parent_ids: list[uuid.UUID]) -> Batch:
    unparented = Query(own_filter(query.filter, parent, None), query.group_by, query.scope)
    return Batch(unparented, parent, frozenset(parent_ids))


@st.composite
def batches(draw: st.DrawFn) -> Batch:
    """A random query over a random non-empty set of parents (sometimes with one that names nothing)."""
    parent = draw(st.sampled_from(PARENTS))
    parent_ids = draw(st.lists(st.sampled_from([*PARENT_IDS[parent], NOWHERE]), min_size=1, unique=True))
    return batch_of(draw(queries()), parent, parent_ids)


def _input(spec: RecordSpec) -> UsageRecordInput:
    sub, day, meter, service, quantity, amount, currency = spec
    return UsageRecordInput(
        subscription_id=str(SUBSCRIPTIONS[sub]),
        usage_date=FIRST_DAY + timedelta(days=day),
        service=service,
        meter_id=meter,
        meter_name=meter,
        quantity=quantity,
        unit="Hours",
        amount=amount,
        currency=currency,
    )


def _batches(scenario: Scenario) -> tuple[list[RecordSpec], list[RecordSpec]]:
    """The first batch (one record per natural key), then corrections of some of its keys."""
    first = list({(spec[0], spec[1], spec[2]): spec for spec in scenario.records}.values())
    second: dict[tuple[int, int, str], RecordSpec] = {}
    for which, service, quantity, amount, currency in scenario.corrections if first else []:
        sub, day, meter = first[which % len(first)][:3]
        second[(sub, day, meter)] = (sub, day, meter, service, quantity, amount, currency)
    return first, list(second.values())


def _associations(scenario: Scenario) -> list[RawAssociation]:
    """Each (subscription, type, partner) history: instants paired into intervals, the last one maybe open.

    Only partner 0 may hold an open Digital Partner of Record association (the database allows one at a time).
    """
    seen: set[tuple[int, AssociationType, int]] = set()
    associations = []
    for sub, kind, partner, points in scenario.histories:
        if (sub, kind, partner) in seen:
            continue
        seen.add((sub, kind, partner))
        ordered = sorted(points)
        open_allowed = kind is not AssociationType.DIGITAL_PARTNER_OF_RECORD or partner == 0
        if len(ordered) % 2 and not open_allowed:
            ordered = ordered[:-1]
        for index in range(0, len(ordered), 2):
            starts = MIDNIGHT + timedelta(seconds=ordered[index])
            ends = MIDNIGHT + timedelta(seconds=ordered[index + 1]) if index + 1 < len(ordered) else None
            # Successive intervals of one history carry no role, then each role in turn: RECOGNITION_ROLE grouping
            # splits a partner's attribution, also on a day two intervals of different roles touch.
            role = ROLES[index // 2 % len(ROLES)]
            status = AssociationStatus.ACTIVE
            if kind is AssociationType.CLAIMING_PARTNER_OF_RECORD:
                status = CLAIM_STATES[index // 2 % len(CLAIM_STATES)]
                if status is AssociationStatus.DECLINED and ends is None:
                    status = AssociationStatus.PENDING  # a declined claim has ended
            associations.append(RawAssociation(SUBSCRIPTIONS[sub], PARTNERS[partner], kind, starts, ends, role, status))
    return associations


@dataclass(frozen=True)
class Relationship:
    """A delegated admin relationship as the test sets it up, and the admin links its end cuts."""

    tenant_id: uuid.UUID
    partner_id: uuid.UUID
    expires_at: datetime | None
    ended_by_hand_at: datetime | None
    link_starts: dict[uuid.UUID, datetime]  # by subscription

    @property
    def ends_at(self) -> datetime | None:
        """Where the relationship's links end: ended by hand, at that second (at its expiry if that came first);
        else at its expiry (the sweep ran after it); else never (still active)."""
        ends = [at for at in (self.expires_at, self.ended_by_hand_at) if at is not None]
        return min(ends) if ends else None

    def links(self) -> list[RawAssociation]:
        ends = self.ends_at
        # A link set after the expiry, before the sweep came, ends as the empty interval [start, start).
        return [
            RawAssociation(sub, self.partner_id, PAL, starts, None if ends is None else max(ends, starts))
            for sub, starts in self.link_starts.items()
        ]


def _relationships(scenario: Scenario) -> list[Relationship]:
    """One relationship per (tenant, partner) (the database allows one active at a time), with links on its
    tenant's subscriptions only, one per subscription. A relationship ended by hand names only links that existed
    when it ended (started at or before that second)."""
    seen: set[tuple[int, int]] = set()
    relationships = []
    for tenant, partner, expiry, ended, starts in scenario.admin_links:
        if (tenant, partner) in seen:
            continue
        seen.add((tenant, partner))
        at = {offset: MIDNIGHT + timedelta(seconds=offset) for offset in (expiry, ended) if offset is not None}
        links: dict[uuid.UUID, datetime] = {}
        for sub, start in starts:
            if TENANT_OF[SUBSCRIPTIONS[sub]] != TENANTS[tenant] or SUBSCRIPTIONS[sub] in links:
                continue
            if ended is not None and start > ended:
                continue
            links[SUBSCRIPTIONS[sub]] = MIDNIGHT + timedelta(seconds=start)
        relationships.append(
            Relationship(
                TENANTS[tenant],
                PARTNERS[partner],
                None if expiry is None else at[expiry],
                None if ended is None else at[ended],
                links,
            )
        )
    return relationships


def _end_reason(item: RawAssociation) -> AssociationEndReason | None:
    if item.valid_to is None:
        return None
    if item.status is AssociationStatus.DECLINED:
        return AssociationEndReason.CUSTOMER_DECLINED
    return AssociationEndReason.REPLACED


async def _load(database: Database, scenario: Scenario) -> tuple[list[RawRecord], list[RawAssociation]]:
    await empty_all_tables(database)
    tenants = [factories.tenant(id=tenant) for tenant in TENANTS]
    partners = [factories.partner(id=partner) for partner in PARTNERS]
    subscriptions = [
        factories.subscription(tenants[index % 2], id=sub, external_id=str(sub))
        for index, sub in enumerate(SUBSCRIPTIONS)
    ]
    associations = _associations(scenario)
    rows = [
        PartnerAssociation(
            subscription_id=item.subscription_id,
            partner_id=item.partner_id,
            type=item.type,
            valid_from=item.valid_from,
            valid_to=item.valid_to,
            created_by="test",
            ended_by="test" if item.valid_to else None,
            end_reason=_end_reason(item),
            recognition_role=item.recognition_role,
            status=AssociationStatus.PENDING if _ripens(item) else item.status,
            decline_by=_decline_by(item),
        )
        for item in associations
    ]
    relationships = _relationships(scenario)
    delegations = [
        DelegatedAdminRelationship(
            tenant_id=item.tenant_id,
            partner_id=item.partner_id,
            expires_at=item.expires_at,
            created_at=MIDNIGHT - timedelta(days=30),  # before every link start
        )
        for item in relationships
    ]
    links = [
        PartnerAssociation(
            subscription_id=sub, partner_id=item.partner_id, type=PAL, valid_from=starts, created_by="partner"
        )
        for item in relationships
        for sub, starts in item.link_starts.items()
    ]
    first, second = _batches(scenario)
    async with database.write() as session:
        await factories.add_flushed(session, *tenants, *partners)
        await factories.add_flushed(session, *subscriptions)
        await factories.add_flushed(session, *rows, *delegations, *links)
    await _end_relationships(database, relationships, delegations, ripening=sum(map(_ripens, associations)))
    admin_links = [link for item in relationships for link in item.links()]
    async with database.read() as session:
        written = await session.execute(
            select(
                PartnerAssociation.subscription_id, PartnerAssociation.partner_id, PartnerAssociation.valid_to
            ).where(PartnerAssociation.type == PAL)
        )
        assert sorted(tuple(row) for row in written) == sorted(
            (a.subscription_id, a.partner_id, a.valid_to) for a in admin_links
        )
    for batch in (first, second):
        if batch:
            async with database.write() as session:
                await ingest_usage(session, [_input(spec) for spec in batch])
    final = {spec[:3]: spec for spec in first} | {spec[:3]: spec for spec in second}
    records = [
        RawRecord(SUBSCRIPTIONS[sub], FIRST_DAY + timedelta(days=day), meter, service, quantity, amount, currency)
        for sub, day, meter, service, quantity, amount, currency in final.values()
    ]
    return records, [*associations, *admin_links]


def _stopped(at: datetime) -> datetime:
    return at


async def _end_by_hand(
    admin: CallerScope, relationship_id: uuid.UUID, session: AsyncSession
) -> DelegatedAdminRelationship:
    return await end_delegated_admin_relationship(session, admin, "test", relationship_id)


def _ripens(item: RawAssociation) -> bool:
    """A claim the oracle holds ripened and still open: the sweep makes it so."""
    return (
        item.type is AssociationType.CLAIMING_PARTNER_OF_RECORD
        and item.status is AssociationStatus.ACTIVE
        and item.valid_to is None
    )


def _decline_by(item: RawAssociation) -> datetime | None:
    if item.type is not AssociationType.CLAIMING_PARTNER_OF_RECORD:
        return None
    return RIPENS_AT if _ripens(item) else DECLINE_BY


async def _end_relationships(
    database: Database, relationships: list[Relationship], rows: list[DelegatedAdminRelationship], *, ripening: int
) -> None:
    """The real code ends them: a platform admin by hand, each at its second on the server clock, in time order;
    then one sweep, after every instant, ends those that expired and ripens the `ripening` claims whose window
    closed. Links' ends are theirs (checked by the caller)."""
    async with database.read() as session:
        admin = await resolve_scope(session, ADMIN)
    by_hand = sorted(
        (item.ended_by_hand_at, row.id)
        for item, row in zip(relationships, rows, strict=True)
        if item.ended_by_hand_at is not None
    )
    for at, relationship_id in by_hand:
        with clock.moved_to(functools.partial(_stopped, at)):
            await in_transaction(database, functools.partial(_end_by_hand, admin, relationship_id))
    with clock.moved_to(functools.partial(_stopped, MIDNIGHT + timedelta(seconds=SWEPT_AT))):
        report = await sweep(database)
    assert report.ripened_claims == ripening
    assert report.expired_relationships == sum(
        1 for item in relationships if item.expires_at is not None and item.ended_by_hand_at is None
    )


async def _check(database_url: str, scenario: Scenario, checks: list[Query], batched: Sequence[Batch] = ()) -> None:
    database = Database.from_url(database_url, pool_size=2)
    try:
        records, associations = await _load(database, scenario)
        async with database.read() as session:
            for query in checks:
                group_by = sorted(query.group_by, key=str)
                actual = await usage_aggregates(session, query.filter, group_by, reach(query.scope))
                expected = expected_rows(
                    records, associations, TENANT_OF, query.filter, set(query.group_by), query.scope
                )
                assert canonical(actual) == canonical(expected), query
            for batch in batched:
                query, group_by = batch.query, sorted(batch.query.group_by, key=str)
                split = await aggregates_by_parent(
                    session, query.filter, group_by, reach(query.scope), batch.parent, batch.parent_ids
                )
                assert set(split) == batch.parent_ids, batch
                for parent_id, rows in split.items():
                    own = own_filter(query.filter, batch.parent, parent_id)
                    expected = expected_rows(records, associations, TENANT_OF, own, set(group_by), query.scope)
                    assert canonical(rows) == canonical(expected), (batch, parent_id)
                    # Exactly the parent's own query: the same rows in the same order.
                    own_rows = await usage_aggregates(session, own, group_by, reach(query.scope))
                    assert rows == own_rows, (batch, parent_id)
    finally:
        await database.dispose()


@settings(
    max_examples=50,
    database=None,  # no example database written into the work tree
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    scenario=scenarios(),
    checks=st.lists(queries(), min_size=1, max_size=5),
    batched=st.lists(batches(), min_size=1, max_size=3),
)
def test_random_aggregates_equal_the_naive_sums(
    database_url: str, scenario: Scenario, checks: list[Query], batched: list[Batch]
) -> None:
    asyncio.run(_check(database_url, scenario, checks, batched))


def _fixed_scenario() -> Scenario:
    """A dense scenario from a seeded generator: every subscription, service, currency and partner in use."""
    rng = random.Random(20260315)

    def number(low: int, high: int) -> Decimal:
        return Decimal(rng.randint(low, high)).scaleb(-rng.choice([0, 2, 6]))

    records: list[RecordSpec] = [
        (
            sub,
            day,
            meter,
            rng.choice(SERVICES),
            number(0, 10**6),
            number(-(10**4), 10**6),
            rng.choice(CURRENCIES),
        )
        for sub in range(len(SUBSCRIPTIONS))
        for day in range(0, DAYS, 2)
        for meter in METERS[: rng.randint(1, 3)]
    ]
    corrections: list[CorrectionSpec] = [
        (rng.randrange(len(records)), rng.choice(SERVICES), number(0, 10**6), number(0, 10**6), "USD")
        for _ in range(30)
    ]
    histories: list[HistorySpec] = [
        (sub, kind, partner, rng.sample(range(-86_400, (DAYS + 1) * 86_400), rng.randint(1, 5)))
        for sub in range(len(SUBSCRIPTIONS))
        for kind in TYPES
        for partner in range(len(PARTNERS))
        if rng.random() < 0.7
    ]
    # Every way a relationship ends: by hand, by expiry, by hand after its expiry; and one still active.
    admin_links: list[AdminLinkSpec] = [
        (0, 0, None, 20 * 86_400 + 3_600, [(0, 2 * 86_400), (2, 20 * 86_400 + 3_599)]),
        (0, 1, 30 * 86_400 + 43_200, None, [(0, -86_400), (2, 31 * 86_400)]),
        (1, 1, 15 * 86_400 + 1, 25 * 86_400, [(1, 5 * 86_400 + 7)]),
        (1, 2, None, None, [(1, 10 * 86_400 + 600)]),
    ]
    return Scenario(records, corrections, histories, admin_links)


# Which numbers of groupings at once: none, each alone, every pair (groupings interact in pairs: DAY within MONTH,
# PARTNER with RECOGNITION_ROLE, a partner-scoped one with a plain one) and all of them; the random test above
# mixes the rest. DPOR_TEST_EVERY_GROUPING=1 (`make test-long`) checks every combination, 128 per scope and filter,
# four times the queries of CI's 30.
GROUPING_SIZES = (
    range(len(GroupBy) + 1) if os.environ.get("DPOR_TEST_EVERY_GROUPING") == "1" else (0, 1, 2, len(GroupBy))
)


@pytest.mark.parametrize(
    "scope",
    [ALL, TenantScope(TENANTS[0]), PartnerScope(PARTNERS[0]), PartnerScope(PARTNERS[1])],
    ids=["all", "tenant", "partner0", "partner1"],
)
def test_groupings_under_every_scope_equal_the_naive_sums(database_url: str, scope: Scope) -> None:
    window = AggregateFilter(FIRST_DAY + timedelta(days=3), FIRST_DAY + timedelta(days=DAYS - 2))
    typed = AggregateFilter(window.date_from, window.date_to, association_type=TYPES[1])
    checks = [
        Query(query_filter, frozenset(groups), scope)
        for size in GROUPING_SIZES
        for groups in itertools.combinations(list(GroupBy), size)
        for query_filter in (window, typed)
    ]
    # Batches of all parents of each kind (and one that names nothing), for no grouping, each grouping alone and all
    # of them: every combination would triple the test's time (the oracle runs once per parent); hypothesis mixes.
    batched = [
        batch_of(query, parent, [*PARENT_IDS[parent], NOWHERE])
        for query in checks
        if len(query.group_by) in (0, 1, len(GroupBy))
        for parent in PARENTS
    ]
    asyncio.run(_check(database_url, _fixed_scenario(), checks, batched))


@pytest.mark.parametrize(
    ("date_to", "group_by", "field"),
    [
        (date(2025, 12, 31), [], "filter.to"),
        (date(2029, 1, 1), [], "filter.to"),  # 36 months and a day
        (date(2027, 1, 2), [GroupBy.DAY], "groupBy"),  # 367 days
    ],
)
def test_windows_too_long_or_backwards_are_bad_input(date_to: date, group_by: list[GroupBy], field: str) -> None:
    with pytest.raises(UsageInputError) as raised:
        check_window(AggregateFilter(date(2026, 1, 1), date_to), group_by)
    assert [(problem.field, raised.value.code) for problem in raised.value.problems] == [(field, "BAD_USER_INPUT")]


def test_the_longest_windows_allowed() -> None:
    check_window(AggregateFilter(date(2026, 1, 1), date(2028, 12, 31)), [GroupBy.MONTH])
    check_window(AggregateFilter(date(2026, 1, 31), date(2029, 1, 30)), [])
    check_window(AggregateFilter(date(2026, 1, 1), date(2027, 1, 1)), [GroupBy.DAY])  # 366 days


def test_associations_starting_or_ending_at_month_edges_equal_the_naive_sums(database_url: str) -> None:
    """Months an association covers whole come from the monthly rollups; one second less and they must not."""
    march, april = 9 * 86_400, 40 * 86_400  # offsets of 1 March and 1 April from the first day
    histories: list[HistorySpec] = [
        (0, TYPES[0], 0, [march, april]),  # exactly March
        (1, TYPES[0], 0, [march + 1, april - 1]),  # March but its first and last second
        (1, TYPES[1], 1, [march - 1, april + 1]),  # March and a second either side
        (2, TYPES[1], 2, [march, april - 86_400]),  # March without its last day
        (2, TYPES[0], 0, [march + 43_200]),  # from noon on 1 March, open
    ]
    records: list[RecordSpec] = [
        (sub, day, "m1", SERVICES[day % 2], Decimal(day), Decimal(sub * 100 + day).scaleb(-2), "USD")
        for sub in range(len(SUBSCRIPTIONS))
        for day in range(DAYS)
    ]
    windows = [
        AggregateFilter(FIRST_DAY, FIRST_DAY + timedelta(days=DAYS - 1)),
        AggregateFilter(date(2026, 3, 1), date(2026, 3, 31)),
        AggregateFilter(date(2026, 3, 1), date(2026, 4, 30)),
        # Months mostly inside the window: their monthly rows less the days outside it (month_span.py).
        AggregateFilter(date(2026, 3, 1), date(2026, 3, 25)),
        AggregateFilter(date(2026, 2, 20), date(2026, 4, 12)),
        AggregateFilter(date(2026, 3, 4), date(2026, 3, 30)),
    ]
    checks = [
        Query(window, frozenset(groups), scope)
        for window in windows
        for groups in (
            [GroupBy.PARTNER],
            [GroupBy.MONTH, GroupBy.SUBSCRIPTION],
            [GroupBy.SERVICE, GroupBy.MONTH],
        )
        for scope in (ALL, PartnerScope(PARTNERS[0]), PartnerScope(PARTNERS[1]), PartnerScope(PARTNERS[2]))
    ]
    batched = [batch_of(query, parent, PARENT_IDS[parent]) for query in checks for parent in PARENTS]
    asyncio.run(_check(database_url, Scenario(records, [], histories), checks, batched))
