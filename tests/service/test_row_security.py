"""Row-level security (issue 16, alembic revision 0012_rls_policies): every table holding tenant data has it enabled and
forced; a transaction that names no caller sees and writes nothing; the policies give each caller the rows the
application's row filters give it; and with those row filters dropped (a test-only switch), PostgreSQL alone still
answers every read of the authorization matrix as the policy table says, on the caller's own side and the other.

PostgreSQL only, connected as a login role IN ROLE dpor_app (superusers bypass row-level security), in a database
of this module's own.
"""

from __future__ import annotations

import functools
import importlib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text, true
from sqlalchemy.exc import DBAPIError

from auth import policy, row_filters
from auth.policy import Entity, RowFilter
from auth.principal import Principal, Role
from auth.row_security import caller_of, reach, write_reach
from auth.scope import resolve_scope
from db.engine import Database
from db.enums import AssociationType
from db.models import Base
from db.row_security import SystemTask, request_caller, system
from tests import databases, factories
from tests.api import api_for
from tests.auth.test_policy_matrix import CALLERS, CELLS, TENANT_A, Outcome, World, build_world, expected, observed
from tests.conftest import empty_all_tables

__test__ = "postgresql" in databases.backends()
pytestmark = pytest.mark.postgres_only

# Tables that hold no tenant's data: one counter row (the change sequencer's last sequence). Every other table of
# the models has row-level security; a new table fails the meta-test until its migration gives it policies (or it is
# named here, with the reason).
NOT_TENANT_DATA = {"change_event_sequencer": "one row: the last sequence the change sequencer gave"}
USAGE_PARENTS = ("usage_records", "usage_daily_rollups", "usage_monthly_rollups")


@pytest.fixture(scope="module")
def own_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with databases.migrated_database("postgresql", tmp_path_factory.mktemp("row_security")) as url:
        yield url


@pytest.fixture(scope="module")
def app_role_url(own_database_url: str) -> Iterator[str]:
    with databases.app_role_login(own_database_url, "dpor_rls_test") as url:
        yield url


@pytest.fixture
async def owner(own_database_url: str) -> AsyncIterator[Database]:
    """The database as the tests' superuser (not held by row-level security), emptied."""
    db = Database.from_url(own_database_url, pool_size=3)
    await empty_all_tables(db)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def as_app(owner: Database, app_role_url: str) -> AsyncIterator[Database]:
    db = Database.from_url(app_role_url, pool_size=3)
    try:
        yield db
    finally:
        await db.dispose()


async def test_every_tenant_table_has_row_level_security_enabled_and_forced(owner: Database) -> None:
    tenant_tables = {table.name for table in Base.metadata.sorted_tables} - set(NOT_TENANT_DATA)
    async with owner.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT relname, relrowsecurity, relforcerowsecurity, relispartition FROM pg_class"
                " WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p')"
            )
        )
        flags = {name: (enabled, forced, partition) for name, enabled, forced, partition in rows}
        partitions = set(
            (
                await connection.execute(
                    text(
                        "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = ANY(CAST(:p AS regclass[]))"
                    ),
                    {"p": list(USAGE_PARENTS)},
                )
            )
            .scalars()
            .all()
        )
        policies = set(
            (await connection.execute(text("SELECT DISTINCT polrelid::regclass::text FROM pg_policy"))).scalars()
        )
    assert tenant_tables <= set(flags)
    assert {name for name in tenant_tables if flags[name][:2] != (True, True)} == set(), "ENABLE and FORCE"
    assert tenant_tables <= policies, "each has its caller's policy"
    # Tables outside the models (a migration's own) are covered as well, but for the revision marker.
    uncovered = {name for name, (enabled, _, partition) in flags.items() if not enabled and not partition}
    assert uncovered == {"alembic_version", *NOT_TENANT_DATA}
    # Partitions: enabled (no policy: anyone but the owner naming one directly sees nothing; the app role has no
    # grant on them either), the months made since migrating too.
    assert partitions and all(flags[name][0] for name in partitions)
    async with owner.write() as session:
        await session.execute(text("SELECT usage_partitions_ensure(ARRAY[DATE '2019-04-01'])"))
    async with owner.engine.connect() as connection:
        made = (
            await connection.execute(
                text("SELECT bool_and(relrowsecurity), count(*) FROM pg_class WHERE relname LIKE 'usage_%_p2019_04'")
            )
        ).one()
    assert tuple(made) == (True, 3)


async def test_no_caller_no_rows(owner: Database, as_app: Database) -> None:
    await build_world(owner)
    tables = [table.name for table in Base.metadata.sorted_tables if table.name not in NOT_TENANT_DATA]
    async with owner.read() as session:
        seeded = {t: (await session.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one() for t in tables}
    assert seeded["tenants"] and seeded["usage_daily_rollups"] and seeded["webhook_deliveries"]
    for database in (as_app, as_app.acting(request_caller(frozenset(), None, None))):
        async with database.read() as session:
            seen = {t: (await session.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one() for t in tables}
        assert seen == dict.fromkeys(tables, 0)
    with pytest.raises(DBAPIError, match="row-level security"):
        async with as_app.write() as session:
            await session.execute(
                text("INSERT INTO partners (id, mpn_id, name) VALUES (:id, 'x-1', 'Smuggled')"), {"id": uuid.uuid4()}
            )
    # The system caller is a named task, set by its code path (db.row_security.SystemTask): it sees everything.
    async with as_app.acting(system(SystemTask.SWEEP)).read() as session:
        assert (await session.execute(text("SELECT count(*) FROM tenants"))).scalar_one() == seeded["tenants"]


def _entity_tables() -> dict[Entity, Any]:
    from db.association import PartnerAssociation
    from db.audit import AuditEvent
    from db.delegation import DelegatedAdminRelationship
    from db.dpor_invitation import DporInvitation
    from db.partner import Partner
    from db.subscription import Subscription
    from db.tenant import Tenant, TenantContact
    from db.webhook import WebhookEndpoint

    return {
        Entity.TENANT: Tenant,
        Entity.CONTACT: TenantContact,
        Entity.SUBSCRIPTION: Subscription,
        Entity.PARTNER: Partner,
        Entity.PARTNER_ASSOCIATION: PartnerAssociation,
        Entity.DELEGATED_ADMIN_RELATIONSHIP: DelegatedAdminRelationship,
        Entity.AUDIT_EVENT: AuditEvent,
        Entity.DPOR_INVITATION: DporInvitation,
        Entity.WEBHOOK_ENDPOINT: WebhookEndpoint,
    }


CALLER_NAMES = [name for name, who in CALLERS.items() if who is not None]


@pytest.mark.parametrize("caller", CALLER_NAMES)
async def test_the_policies_give_the_rows_the_row_filters_give(owner: Database, as_app: Database, caller: str) -> None:
    """For every entity auth/row_filters.py filters: the ids a caller's row filter selects (as the superuser) are
    the ids PostgreSQL's policies show the caller with no filter at all (as the app role)."""
    await build_world(owner)
    who = CALLERS[caller]
    assert who is not None
    async with owner.acting(system(SystemTask.RESOLVE_CALLER)).read() as session:
        scope = await resolve_scope(session, who)
    told = as_app.acting(caller_of(scope))
    for entity, model in _entity_tables().items():
        visible = row_filters.visibility(entity, scope)
        async with owner.read() as session:
            filtered = set(
                (await session.execute(select(model.id).where(visible.predicate), visible.parameters)).scalars()
            )
        async with told.read() as session:
            policed = set((await session.execute(select(model.id))).scalars())
        assert policed == filtered, (caller, entity)
    # Usage: the policies narrow to the subscriptions whose usage the caller may read (a partner's windows within
    # them are the application's join); never a row of a subscription the caller cannot read.
    from db.rollup import UsageDailyRollup
    from db.subscription import Subscription

    visible = row_filters.visibility(Entity.SUBSCRIPTION, scope)
    async with owner.read() as session:
        readable = set(
            (await session.execute(select(Subscription.id).where(visible.predicate), visible.parameters)).scalars()
        )
    async with told.read() as session:
        usage = set((await session.execute(select(UsageDailyRollup.subscription_id))).scalars())
    reads_usage = bool(policy.read_filters(Entity.USAGE, scope.roles))
    assert (usage != set()) is reads_usage, caller
    if RowFilter.ALL not in policy.read_filters(Entity.USAGE, scope.roles):
        assert usage <= readable, caller


async def test_a_delegated_admin_reaches_nothing_once_its_relationship_ended(owner: Database, as_app: Database) -> None:
    """The policy checks the relationship itself: a caller told it is a delegated admin of tenant A (as the scope
    said a moment ago) reads nothing of A once the relationship is ended or expired."""
    await build_world(owner)
    who = CALLERS["delegated-admin"]
    assert who is not None
    async with owner.acting(system(SystemTask.RESOLVE_CALLER)).read() as session:
        scope = await resolve_scope(session, who)
    assert Role.DELEGATED_ADMIN in scope.roles
    told = as_app.acting(caller_of(scope))

    async def tenants_seen() -> int:
        async with told.read() as session:
            return int((await session.execute(text("SELECT count(*) FROM tenants"))).scalar_one())

    assert await tenants_seen() == 1
    async with owner.write() as session:
        await session.execute(
            text("UPDATE delegated_admin_relationships SET expires_at = :past"),
            {"past": datetime(2026, 1, 1, tzinfo=UTC)},
        )
    assert await tenants_seen() == 0


async def _partner_with_one_of_two_subscriptions(owner: Database) -> tuple[Any, Any, Any, Any]:
    """A tenant with two subscriptions, a partner associated with the first, another partner with the second."""
    async with owner.write() as session:
        tenant = factories.tenant()
        partner, other = factories.partner(), factories.partner()
        await factories.add_flushed(session, tenant, partner, other)
        first, second = factories.subscription(tenant), factories.subscription(tenant)
        await factories.add_flushed(session, first, second)
        await factories.add_flushed(
            session, factories.association(first, partner), factories.association(second, other)
        )
    return partner, other, first, second


def _partner_caller(partner_id: uuid.UUID) -> Any:
    return request_caller(reach(frozenset({Role.PARTNER})), None, partner_id)


async def _subscriptions_seen(session: Any) -> set[uuid.UUID]:
    return set((await session.execute(text("SELECT id FROM subscriptions"))).scalars())


async def test_a_write_transaction_sees_what_its_own_statements_attributed(owner: Database, as_app: Database) -> None:
    """A read transaction works out the partner's attributed subscriptions once, as it begins (revision 0014); a
    write transaction works them out at each statement, so the association it just made counts at once."""
    partner, _other, first, second = await _partner_with_one_of_two_subscriptions(owner)
    told = as_app.acting(_partner_caller(partner.id))
    async with told.read() as session:
        assert await _subscriptions_seen(session) == {first.id}
        worked_out = await session.execute(text("SELECT current_setting('dpor.attributed_subscriptions')"))
        assert worked_out.scalar_one() == "{" + str(first.id) + "}"
    async with told.write() as session:
        assert (
            await session.execute(text("SELECT current_setting('dpor.attributed_subscriptions', true)"))
        ).scalar() in (
            None,
            "",
        )
        session.add(factories.association(second, partner, type=AssociationType.PARTNER_ADMIN_LINK))
        await session.flush()
        assert await _subscriptions_seen(session) == {first.id, second.id}
    async with told.read() as session:
        assert await _subscriptions_seen(session) == {first.id, second.id}


async def test_a_caller_changing_within_a_read_transaction_keeps_nothing_of_the_one_before(
    owner: Database, as_app: Database
) -> None:
    """A request's read session tells its transaction each caller it works for (system, then the request's); the
    sets worked out for one caller are replaced, never left for the next."""
    partner, other, first, second = await _partner_with_one_of_two_subscriptions(owner)
    database = as_app.for_request()
    try:
        for caller, expected_ids in ((partner.id, {first.id}), (other.id, {second.id}), (partner.id, {first.id})):
            database.acting(_partner_caller(caller))
            async with database.read() as session:
                assert await _subscriptions_seen(session) == expected_ids
        # A tenant role after a partner: no attributed set at all (its reach has no token that reads one).
        database.acting(request_caller(reach(frozenset({Role.OWNER})), uuid.uuid4(), None))
        async with database.read() as session:
            assert await _subscriptions_seen(session) == set()
            assert (
                await session.execute(text("SELECT current_setting('dpor.attributed_subscriptions')"))
            ).scalar() == ""
    finally:
        await database.close()


async def test_a_compiled_read_tells_its_caller_in_its_own_statement(owner: Database, as_app: Database) -> None:
    """A compiled read off the request's session is one statement, `CASE WHEN dpor_rls_tell(...) THEN (...)`: the
    policies inside see the caller it names (were they evaluated before the tell, they would see no caller and no
    rows), for this statement only."""
    partner, other, first, second = await _partner_with_one_of_two_subscriptions(owner)
    joined = (
        "SELECT coalesce(string_agg(s.id::text, ',' ORDER BY s.id), '') FROM subscriptions s"
        " JOIN partner_associations a ON a.subscription_id = s.id JOIN tenants t ON t.id = s.tenant_id"
        " WHERE s.created_at < $1"
    )
    now = datetime(2099, 1, 1, tzinfo=UTC)
    for caller, expected_ids in ((partner.id, {first.id}), (other.id, {second.id})):
        told = as_app.acting(_partner_caller(caller))
        for _ in range(7):  # past the first five executions, when PostgreSQL may switch to a generic plan
            seen = await told.fetch_value_on_driver(joined, [now])
            assert {uuid.UUID(value) for value in seen.split(",")} == expected_ids
    assert await as_app.acting(request_caller(frozenset(), None, None)).fetch_value_on_driver(joined, [now]) == ""
    # Nothing outlives the statement: one telling nobody, on any of the pooled connections told before, sees nothing.
    assert await as_app.fetch_value_on_driver("SELECT count(*)::text FROM subscriptions", []) == "0"


async def test_partner_associations_carry_their_subscriptions_tenant(owner: Database, as_app: Database) -> None:
    """Revision 0015: the policy's tenant branch compares the row's own tenant_id, which a trigger fills on every
    insert, whoever inserts (here the app role, as a partner whose read reach does not hold the subscription), and a
    subscription never changes tenant, so the column cannot go stale."""
    partner, _other, first, second = await _partner_with_one_of_two_subscriptions(owner)
    async with as_app.acting(_partner_caller(partner.id)).write() as session:
        session.add(factories.association(second, partner, type=AssociationType.PARTNER_ADMIN_LINK))
    async with owner.read() as session:
        rows = (await session.execute(text("SELECT subscription_id, tenant_id FROM partner_associations"))).all()
    assert len(rows) == 3
    assert {tenant for _subscription, tenant in rows} == {first.tenant_id}
    tenant_caller = request_caller(reach(frozenset({Role.OWNER})), first.tenant_id, None)
    async with as_app.acting(tenant_caller).read() as session:
        assert len((await session.execute(text("SELECT id FROM partner_associations"))).all()) == 3
    other_tenant = request_caller(reach(frozenset({Role.OWNER})), uuid.uuid4(), None)
    async with as_app.acting(other_tenant).read() as session:
        assert (await session.execute(text("SELECT id FROM partner_associations"))).all() == []
    elsewhere = factories.tenant()
    async with owner.write() as session:
        await factories.add_flushed(session, elsewhere)
    with pytest.raises(DBAPIError, match="never changes tenant"):
        async with owner.write() as session:
            await session.execute(
                text("UPDATE subscriptions SET tenant_id = :tenant WHERE id = :id"),
                {"tenant": elsewhere.id, "id": first.id},
            )


async def test_a_compiled_read_works_out_only_the_sets_its_tables_read(owner: Database, as_app: Database) -> None:
    """A tenant role's reads reach usage through the tenant's subscription set; a compiled statement that reads no
    usage table does not work it out (db.row_security.told_statement), one that does, does, and both see the
    tenant's rows (were a needed set left out, the policies would still work it out: only slower)."""
    _partner, _other, first, second = await _partner_with_one_of_two_subscriptions(owner)
    told = as_app.acting(request_caller(reach(frozenset({Role.OWNER})), first.tenant_id, None))
    worked_out = "current_setting('dpor.tenant_subscriptions')"
    node = f"SELECT {worked_out} || '|' || count(*) FROM partner_associations"
    assert await told.fetch_value_on_driver(node, []) == "|2"
    usage = f"SELECT {worked_out} || '|' || count(*) FROM usage_monthly_rollups"
    seen, count = (await told.fetch_value_on_driver(usage, [])).split("|")
    assert set(seen.strip("{}").split(",")) == {str(first.id), str(second.id)}
    assert count == "0"


# The test-only switch: every row filter the application applies says ALL (for the roles that read the entity at
# all: who may read what stays the policy table's), so only PostgreSQL's policies stand between a caller and the
# other side's rows. The real table still gives the policies their reach (auth.row_security.reach).
def _without_row_filters(entity: Entity, roles: Any) -> frozenset[RowFilter]:
    held = _real_read_filters(entity, roles)
    return frozenset({RowFilter.ALL}) if held else held


_real_read_filters = policy.read_filters
_CACHED_MODULES = (
    "auth.policy",
    "auth.row_filters",
    "resolvers.queries",
    "resolvers.loaders",
    "resolvers.in_reach",
    "resolvers.usage.statements",
    "resolvers.compiled.usage",
    "resolvers.compiled.usage_arguments",
    # The schema is built once per configuration, and with it the compiled reads' plans (made under the switch).
    "schema.root",
)


def _clear_caches() -> None:
    for name in _CACHED_MODULES:
        for value in vars(importlib.import_module(name)).values():
            if isinstance(value, functools._lru_cache_wrapper):
                value.cache_clear()


@pytest.fixture
def row_filters_dropped(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # auth.row_security keeps the real table: the policies' reach is what the switch must not touch.
    for name in ("auth.policy", "auth.row_filters", "resolvers.compiled.planner"):
        monkeypatch.setattr(importlib.import_module(name), "read_filters", _without_row_filters)
    _clear_caches()
    try:
        yield
    finally:
        monkeypatch.undo()
        _clear_caches()


READS = [name for name, operation in policy.OPERATIONS.items() if operation.kind == "query"]


async def _walk(database: Database, world_database: Database) -> list[tuple[str, str, str, Any, Any]]:
    """Every read cell of the policy matrix (callers x query operations x both sides) against one world: the
    cells whose outcome differs from the policy table's."""
    world: World = await build_world(world_database)
    wrong = []
    async with api_for(database) as api:
        for caller, who in CALLERS.items():
            for operation in READS:
                cell = CELLS[operation]
                for side in ("own", "other"):
                    variables = (
                        cell.by_caller(world, side, who) if cell.by_caller and who else cell.variables(world, side)
                    )
                    body = await api.execute(cell.document, variables, as_=who)
                    outcome = observed(body, cell, world, side, operation)
                    if outcome is not expected(caller, operation, side):
                        wrong.append((caller, operation, side, outcome, body))
    return wrong


async def test_the_switch_drops_the_row_filters(owner: Database, row_filters_dropped: None) -> None:
    """Without row-level security (the superuser), the switch lets foreign rows through: it does drop the filters."""
    assert row_filters.predicate(row_filters.shape(Entity.TENANT, _partner_scope())).compare(true())
    leaks = await _walk(owner, owner)
    assert any(side == "other" for _caller, _operation, side, *_ in leaks)


def _partner_scope() -> Any:
    from auth.scope import CallerScope

    who: Principal | None = CALLERS["partner"]
    assert who is not None
    return CallerScope(who, who.roles, None, uuid.uuid4())


async def test_postgresql_alone_returns_no_foreign_rows(
    owner: Database, as_app: Database, row_filters_dropped: None
) -> None:
    wrong = await _walk(as_app, owner)
    assert wrong == [], "\n".join(f"{c} {o} {s}: {outcome} {body}" for c, o, s, outcome, body in wrong[:10])


def test_reach_is_the_policy_tables() -> None:
    """The policies' reach tokens are READ's filters for the caller's roles (plus what two operations need)."""
    owner_reach = reach(frozenset({Role.OWNER}))
    assert {"TENANT.t", "SUBSCRIPTION.t", "PARTNER.*", "WEBHOOK_ENDPOINT.t", "DPOR_INVITATION.c"} <= owner_reach
    assert not any(token.startswith(("DPOR_INVITATION.p", "AUDIT_EVENT.*")) for token in owner_reach)
    assert reach(frozenset({Role.USAGE_INGEST})) == set()
    assert write_reach(frozenset({Role.USAGE_INGEST})) == {"SUBSCRIPTION.*", "USAGE.*"}
    assert reach(frozenset({Role.PARTNER})) == {
        f"{entity.value}.{code}"
        for entity, code in (
            (Entity.TENANT, "a"),
            (Entity.SUBSCRIPTION, "a"),
            (Entity.PARTNER, "p"),
            (Entity.PARTNER_ASSOCIATION, "p"),
            (Entity.USAGE, "w"),
            (Entity.DPOR_INVITATION, "p"),
            (Entity.WEBHOOK_ENDPOINT, "p"),
        )
    }
    assert TENANT_A  # the matrix's world: callers act on tenant A


WRITES = [
    (caller, operation, side)
    for caller in CALLER_NAMES
    for operation, spec in policy.OPERATIONS.items()
    if spec.kind == "mutation"
    for side in ("own", "other")
    if expected(caller, operation, side) is Outcome.OK
]


async def test_every_permitted_mutation_of_the_matrix_runs_as_the_app_role(owner: Database, app_role_url: str) -> None:
    """The policies' write side: each mutation cell the policy table allows succeeds under row-level security (its
    reads, inserts, updates and the RETURNING of its inserts all within the caller's reach), each in a world of its
    own (and a database object of its own: the gateway remembers resolved tenant ids per pool)."""
    failed = []
    for caller, operation, side in WRITES:
        await empty_all_tables(owner)
        world = await build_world(owner)
        cell = CELLS[operation]
        who = CALLERS[caller]
        variables = cell.by_caller(world, side, who) if cell.by_caller and who else cell.variables(world, side)
        database = Database.from_url(app_role_url, pool_size=2)
        try:
            async with api_for(database) as api:
                body = await api.execute(cell.document, variables, as_=who)
        finally:
            await database.dispose()
        if "errors" in body or observed(body, cell, world, side, operation) is not Outcome.OK:
            failed.append((caller, operation, side, body))
    assert len(WRITES) > 20
    assert failed == [], "\n".join(f"{c} {o} {s}: {body}" for c, o, s, body in failed[:10])
