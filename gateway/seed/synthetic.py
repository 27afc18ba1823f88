"""Synthetic datasets of any size, for load tests and benchmarks: `dpor-gateway seed --tenants N ...`.

Everything is a pure function of (seed, index): tenant i, partner k and subscription (i, j) are derived from
their own random stream, so each table is generated in one streaming pass without keeping earlier tables in
memory, and the same seed always gives the same rows (ids included).

Shape per subscription: one current Digital Partner of Record with probability 0.8; 0-2 earlier DPOR stints
that ended inside the window (REPLACED, or REMOVED_BY_OWNER when no current one follows); now and then a
transacting partner, a partner admin link or an unlinked claim; and daily usage for every day of the window on
`meters_per_day` distinct meters of its offer.
"""

from __future__ import annotations

import functools
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.engine import Database
from db.enums import (
    AssociationEndReason,
    AssociationType,
    DelegationStatus,
    Offer,
    SubscriptionStatus,
    TenantStatus,
)
from db.models import (
    DelegatedAdminRelationship,
    Partner,
    PartnerAssociation,
    Subscription,
    Tenant,
    TenantContact,
    UsageRecord,
)
from gateway.seed.bulk import BulkWriter, Fragment, Row, table_of
from gateway.seed.catalog import COUNTRY_CURRENCY, MAX_METERS_PER_SUBSCRIPTION, METERS, Meter
from gateway.seed.deferred import constraints_deferred
from gateway.seed.demo_data import DEMO_TENANT_EXTERNAL_IDS
from gateway.seed.rows import (
    ASSOCIATION_COLUMNS,
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

NAMESPACE = uuid.UUID("9b0d6c3e-51a7-4f2b-8e0c-7d4a2f6b1c95")
# Synthetic partners' MPN ids start here; the demo's are below it, so both datasets can share a database.
FIRST_MPN_ID = 5_000_000

PostLoadHook = Callable[[AsyncConnection], Awaitable[None]]
# Statements that derive tables from the rows just loaded (usage rollups), run in the load's transaction after
# the last bulk insert. Set-based (INSERT ... SELECT ... GROUP BY), so they cost one pass over the data.
POST_LOAD_HOOKS: tuple[PostLoadHook, ...] = (rebuild_rollups,)

_COUNTRIES = tuple(COUNTRY_CURRENCY)
_COUNTRY_WEIGHTS = (30, 4, 14, 3, 10, 8, 5, 3, 3, 2, 3, 3, 2, 2, 5, 3)
_OFFER_WEIGHTS = {
    Offer.AZURE: 40,
    Offer.MICROSOFT_365: 30,
    Offer.INTUNE: 10,
    Offer.ENTERPRISE_MOBILITY_SUITE: 10,
    Offer.DYNAMICS_365: 10,
}
_NAME_STEMS = (
    "Northwind", "Fabrikam", "Contoso", "Tailspin", "Woodgrove", "Litware", "Adatum", "Proseware", "Lucerne",
    "Alpine", "Coho", "Fourth Coffee", "Graphic Design", "Humongous", "Margie's", "Relecloud", "Southridge",
    "Trey", "Wingtip", "Wide World", "Blue Yonder", "Consolidated", "First Up", "Bellows", "Nod",
)  # fmt: skip
_NAME_TRADES = (
    "Logistics", "Traders", "Health", "Energy", "Foods", "Manufacturing", "Insurance", "Media", "Retail",
    "Engineering", "Pharma", "Hotels", "Motors", "Studios", "Analytics", "Outfitters", "Bank", "Telecom",
)  # fmt: skip
_COMPANY_FORMS = ("Ltd", "Inc", "GmbH", "SA", "BV", "AB", "plc", "LLC", "Pty Ltd", "AG")
_PARTNER_TRADES = (
    "Cloud Partners",
    "IT Services",
    "Consulting",
    "Digital",
    "Solutions",
    "Systems",
    "Technologies",
)
_FIRST_NAMES = (
    "Alex",
    "Sam",
    "Maria",
    "Jonas",
    "Aiko",
    "Priya",
    "Liam",
    "Chloe",
    "Mateo",
    "Ingrid",
    "Noah",
    "Zoe",
)
_LAST_NAMES = ("Smith", "Müller", "Dubois", "Tanaka", "Patel", "Jensen", "García", "Rossi", "Okafor", "Nowak")


@dataclass(frozen=True, slots=True)
class SyntheticSpec:
    tenants: int
    subscriptions_per_tenant: int
    partners: int
    days: int
    end_date: date
    meters_per_day: int = 3
    seed: int = 1

    def __post_init__(self) -> None:
        for name in ("tenants", "subscriptions_per_tenant", "partners", "days", "meters_per_day"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.meters_per_day > MAX_METERS_PER_SUBSCRIPTION:
            raise ValueError(f"meters_per_day can be at most {MAX_METERS_PER_SUBSCRIPTION} (distinct meters per offer)")

    @property
    def first_day(self) -> date:
        return self.end_date - timedelta(days=self.days - 1)

    @property
    def window(self) -> tuple[datetime, datetime]:
        """The usage window as instants: [first day 00:00, day after the last 00:00) UTC."""
        start = datetime(self.first_day.year, self.first_day.month, self.first_day.day, tzinfo=UTC)
        return start, start + timedelta(days=self.days)

    def usage_rows(self) -> int:
        return self.tenants * self.subscriptions_per_tenant * self.days * self.meters_per_day


@dataclass(frozen=True, slots=True)
class LoadReport:
    rows: dict[str, int]
    seconds: float

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def lines(self) -> list[str]:
        width = max(len(name) for name in self.rows)
        lines = [f"  {name:<{width}}  {count:>12,}" for name, count in self.rows.items()]
        rate = self.total_rows / self.seconds if self.seconds > 0 else 0.0
        lines.append(f"{self.total_rows:,} rows in {self.seconds:.1f} s ({rate:,.0f} rows/s)")
        return lines


class NotEmptyError(Exception):
    """The database holds tenants besides the demo's: synthetic ids would collide with an earlier load."""


def _id(spec: SyntheticSpec, *parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "/".join(str(part) for part in (spec.seed, *parts)))


def _rng(spec: SyntheticSpec, *parts: object) -> random.Random:
    # Seeding with a string hashes it (SHA-512), identically in every process: no PYTHONHASHSEED dependence.
    return random.Random("/".join(str(part) for part in (spec.seed, *parts)))


def _instant(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A whole-second instant in [start, end)."""
    return start + timedelta(seconds=rng.randrange(int((end - start).total_seconds())))


@dataclass(frozen=True, slots=True)
class _Tenant:
    id: uuid.UUID
    external_id: uuid.UUID
    display_name: str
    domain: str
    country: str
    currency: str
    created_at: datetime


def _tenant(spec: SyntheticSpec, i: int) -> _Tenant:
    rng = _rng(spec, "tenant", i)
    stem, trade = rng.choice(_NAME_STEMS), rng.choice(_NAME_TRADES)
    country = rng.choices(_COUNTRIES, _COUNTRY_WEIGHTS)[0]
    slug = f"{stem}{trade}".lower().replace(" ", "").replace("'", "")
    window_start, _ = spec.window
    return _Tenant(
        id=_id(spec, "tenant", i),
        external_id=_id(spec, "tenant-external", i),
        display_name=f"{stem} {trade} {rng.choice(_COMPANY_FORMS)}",
        domain=f"{slug}{i}.example.com",
        country=country,
        currency=COUNTRY_CURRENCY[country],
        created_at=window_start - timedelta(days=rng.randint(400, 3000), seconds=rng.randrange(86_400)),
    )


def _partner_id(spec: SyntheticSpec, k: int) -> uuid.UUID:
    return _id(spec, "partner", k)


@dataclass(slots=True)
class _Subscription:
    id: uuid.UUID
    external_id: str
    offer: Offer
    display_name: str
    created_at: datetime
    stints: list[Stint] = field(default_factory=list)
    removal: Removal | None = None
    other_links: list[Row] = field(default_factory=list)
    meters: tuple[Meter, ...] = ()
    tier: int = 0


def _subscription(spec: SyntheticSpec, tenant: _Tenant, i: int, j: int) -> _Subscription:
    rng = _rng(spec, "subscription", i, j)
    offer = rng.choices(tuple(_OFFER_WEIGHTS), tuple(_OFFER_WEIGHTS.values()))[0]
    window_start, window_end = spec.window
    created_at = _instant(rng, tenant.created_at + timedelta(days=1), window_start)
    sub = _Subscription(
        id=_id(spec, "subscription", i, j),
        external_id=str(_id(spec, "subscription-external", i, j)),
        offer=offer,
        display_name=f"{tenant.display_name} {offer.name.replace('_', ' ').title()} {j + 1}",
        created_at=created_at,
        meters=tuple(rng.sample(METERS[offer], spec.meters_per_day)),
        tier=rng.choices((0, 1, 2), (6, 3, 1))[0],
    )
    owner = f"admin@{tenant.domain}"
    earlier = rng.choices((0, 1, 2), (5, 3, 2))[0]
    current = rng.random() < 0.8
    if earlier or current:
        # The first stint began before the window; each change inside it ends one stint at a whole second.
        # Distinct seconds, so consecutive stints never have an empty interval.
        seconds = range(int((window_end - window_start).total_seconds()))
        changes = [window_start + timedelta(seconds=s) for s in sorted(rng.sample(seconds, earlier))]
        starts = [_instant(rng, created_at, window_start), *changes[: len(changes) - (not current)]]
        partner = -1
        for since in starts:
            partner = _other_partner(rng, spec.partners, partner)
            sub.stints.append(Stint(_partner_id(spec, partner), since, owner))
        if not current:
            sub.removal = Removal(changes[-1], owner)
    sub.other_links = _other_links(spec, rng, sub, owner)
    return sub


def _other_partner(rng: random.Random, partners: int, previous: int) -> int:
    """A partner other than `previous` when there is one: a replacement by the same partner is no change."""
    if partners == 1:
        return 0
    choice = rng.randrange(partners - 1)
    return choice + 1 if choice >= previous >= 0 else choice


def _other_links(spec: SyntheticSpec, rng: random.Random, sub: _Subscription, owner: str) -> list[Row]:
    window_start, window_end = spec.window
    links: list[Row] = []
    for n, (kind, probability) in enumerate(
        (
            (AssociationType.TRANSACTING_PARTNER, 0.15),
            (AssociationType.PARTNER_ADMIN_LINK, 0.10),
            (AssociationType.CLAIMING_PARTNER_OF_RECORD, 0.05),
        )
    ):
        if rng.random() >= probability:
            continue
        since = _instant(rng, sub.created_at, window_start)
        partner = _partner_id(spec, rng.randrange(spec.partners))
        if kind is AssociationType.CLAIMING_PARTNER_OF_RECORD:
            # A claim that was looked at and unlinked: history, not a current association.
            ended = _instant(rng, window_start, window_end)
            end: tuple[object, ...] = (ended, owner, AssociationEndReason.UNLINKED)
        else:
            end = (None, None, None)
        links.append((_id(spec, "link", sub.id, n), sub.id, partner, kind, since, end[0], owner, end[1], end[2]))
    return links


def _tenant_rows(spec: SyntheticSpec) -> Iterator[Row]:
    for i in range(spec.tenants):
        t = _tenant(spec, i)
        status = TenantStatus.ACTIVE
        yield (t.id, t.external_id, t.display_name, t.domain, t.country, status, t.created_at, t.created_at)


def _contact_rows(spec: SyntheticSpec) -> Iterator[Row]:
    for i in range(spec.tenants):
        t = _tenant(spec, i)
        rng = _rng(spec, "contacts", i)
        for n in range(rng.randint(1, 2)):
            first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
            email = f"{first}.{last}@{t.domain}".lower()
            phone = f"+1 555 01{rng.randrange(100):02d}" if rng.random() < 0.7 else None
            yield (_id(spec, "contact", i, n), t.id, f"{first} {last}", email, phone, t.created_at)


def _partner_rows(spec: SyntheticSpec) -> Iterator[Row]:
    for k in range(spec.partners):
        rng = _rng(spec, "partner", k)
        name = f"{rng.choice(_NAME_STEMS)} {rng.choice(_PARTNER_TRADES)} {rng.choice(_COMPANY_FORMS)}"
        country = rng.choices(_COUNTRIES, _COUNTRY_WEIGHTS)[0]
        created_at = spec.window[0] - timedelta(days=rng.randint(500, 4000))
        yield (_partner_id(spec, k), str(FIRST_MPN_ID + k), name, country, created_at)


def _delegation_rows(spec: SyntheticSpec) -> Iterator[Row]:
    window_start, window_end = spec.window
    for i in range(spec.tenants):
        t = _tenant(spec, i)
        rng = _rng(spec, "delegation", i)
        if rng.random() < 0.3:
            created = _instant(rng, t.created_at, window_start)
            partner = _partner_id(spec, rng.randrange(spec.partners))
            if rng.random() < 0.25:
                ended = _instant(rng, window_start, window_end)
                yield (_id(spec, "delegation", i), t.id, partner, DelegationStatus.ENDED, created, ended)
            else:
                yield (_id(spec, "delegation", i), t.id, partner, DelegationStatus.ACTIVE, created, None)


def _subscriptions(spec: SyntheticSpec) -> Iterator[tuple[_Tenant, _Subscription]]:
    for i in range(spec.tenants):
        tenant = _tenant(spec, i)
        for j in range(spec.subscriptions_per_tenant):
            yield tenant, _subscription(spec, tenant, i, j)


def _subscription_rows(spec: SyntheticSpec) -> Iterator[Row]:
    for tenant, s in _subscriptions(spec):
        version = version_after(s.stints, s.removal)
        status = SubscriptionStatus.ACTIVE
        yield (
            s.id,
            s.external_id,
            tenant.id,
            s.offer,
            s.display_name,
            status,
            s.created_at,
            version,
            spec.end_date,
        )


def _association_rows(spec: SyntheticSpec) -> Iterator[Row]:
    for _, s in _subscriptions(spec):
        yield from dpor_history(s.id, s.stints, s.removal, functools.partial(_id, spec, "dpor", s.id))
        yield from s.other_links


def _usage_rows(spec: SyntheticSpec, usage: UsageRows) -> Iterator[Fragment]:
    for tenant, s in _subscriptions(spec):
        pools = [usage.pool(meter, s.tier, tenant.currency) for meter in s.meters]
        noise = usage.noise(_rng(spec, "usage", s.id), len(pools))
        yield from usage.rows(s.id, pools, noise)


async def _refuse_unless_fresh(connection: AsyncConnection) -> None:
    tenants = table_of(Tenant)
    others = await connection.scalar(
        select(func.count()).select_from(tenants).where(tenants.c.external_id.not_in(DEMO_TENANT_EXTERNAL_IDS))
    )
    if others:
        raise NotEmptyError(
            f"the database already holds {others} tenants besides the demo's;"
            " load synthetic data into a freshly migrated database"
        )


async def analyze(database: Database) -> None:
    """Refresh planner statistics after a bulk load, so the first queries do not plan for empty tables."""
    async with database.engine.connect() as connection:
        await connection.exec_driver_sql("ANALYZE")
        await connection.commit()


async def load_synthetic(
    database: Database,
    spec: SyntheticSpec,
    *,
    post_load: Sequence[PostLoadHook] = POST_LOAD_HOOKS,
    progress: Callable[[str], None] | None = None,
) -> LoadReport:
    """Load the dataset `spec` describes in one transaction: all of it, or (on any error) none of it."""
    started = time.perf_counter()

    def step(message: str) -> None:
        if progress is not None:
            progress(f"{time.perf_counter() - started:8.1f} s  {message}")

    rows: dict[str, int] = {}
    async with database.write() as session:
        connection = await session.connection()
        await _refuse_unless_fresh(connection)
        writer = await BulkWriter.open(connection)
        plan: list[tuple[Table, Sequence[str], Iterator[Row]]] = [
            (table_of(Tenant), TENANT_COLUMNS, _tenant_rows(spec)),
            (table_of(TenantContact), CONTACT_COLUMNS, _contact_rows(spec)),
            (table_of(Partner), PARTNER_COLUMNS, _partner_rows(spec)),
            (table_of(DelegatedAdminRelationship), DELEGATION_COLUMNS, _delegation_rows(spec)),
            (table_of(Subscription), SUBSCRIPTION_COLUMNS, _subscription_rows(spec)),
            (table_of(PartnerAssociation), ASSOCIATION_COLUMNS, _association_rows(spec)),
        ]
        for table, columns, generated in plan:
            rows[table.name] = await writer.insert(table, columns, generated)
            step(f"{table.name}: {rows[table.name]:,} rows")
        usage = UsageRows(writer, first_day=spec.first_day, days=spec.days, seed=str(spec.seed))
        usage_table = table_of(UsageRecord)
        async with constraints_deferred(connection, usage_table):
            rows[usage_table.name] = await writer.insert_fragments(usage_table, USAGE_COLUMNS, _usage_rows(spec, usage))
            step(f"{usage_table.name}: {rows[usage_table.name]:,} rows")
        step(f"{usage_table.name}: indexes and foreign key in place")
        for hook in post_load:
            await hook(connection)
        if post_load:
            step("post-load hooks done")
    step("committed")
    await analyze(database)
    step("analyzed")
    return LoadReport(rows, time.perf_counter() - started)
