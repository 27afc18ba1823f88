"""The gateway's least-privilege PostgreSQL role (issue 16, alembic revision 0007): exactly DML on its tables, no
UPDATE or DELETE on append-only history, no schema changes; production refuses to serve as more; the whole API
story works as it. PostgreSQL only (SQLite has no roles): collected only when a PostgreSQL server is configured."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from auth.principal import Role
from auth.row_security import write_reach
from db.engine import Database
from db.enums import AssociationEndReason, AssociationType
from db.models import Base
from db.row_security import SystemTask, request_caller, system
from gateway.app import create_app
from gateway.commands import migrate
from gateway.commands.serve import refuse_a_privileged_database_role
from gateway.settings import SettingsError
from resolvers.usage.ingestion import ingest_usage
from tests import databases, factories
from tests.api import api_for
from tests.auth_support import dev_settings, production_settings
from tests.conftest import empty_all_tables
from tests.graphql.test_access_bound_links import test_ending_the_relationship_ends_the_link_at_that_second as pal_story
from tests.graphql.test_access_bound_links import (
    test_links_racing_the_relationship_s_end_never_outlive_it as links_racing_the_end,
)
from tests.graphql.test_api_story import test_the_whole_story as the_whole_story
from tests.graphql.test_bulk_dpor import test_bulk_story as the_bulk_story
from tests.graphql.test_claims import test_a_claim_declined_and_a_claim_that_ripens as the_claims_story
from tests.server_clock import ServerClock
from tests.usage_helpers import record

__test__ = "postgresql" in databases.backends()

APP_ROLE = "dpor_app"
_DML = {"SELECT", "INSERT", "UPDATE"}
# What the app role may do on each table: a table missing here (a new one whose migration granted nothing, or
# granted without saying so here) fails the meta-test below.
EXPECTED = {
    "alembic_version": {"SELECT"},
    "tenants": _DML,
    "tenant_contacts": _DML,
    "partners": _DML,
    "subscriptions": _DML,
    "delegated_admin_relationships": _DML,
    "dpor_invitations": _DML,
    "idempotency_records": _DML,
    "usage_records": _DML,
    "usage_daily_rollups": _DML | {"DELETE"},
    "usage_monthly_rollups": _DML | {"DELETE"},
    "partner_associations": {"SELECT", "INSERT"},
    "audit_events": {"SELECT", "INSERT"},
    "change_events": {"SELECT", "INSERT", "DELETE"},  # DELETE: the sweep prunes delivered events
    "change_event_sequencer": _DML,
    "webhook_endpoints": _DML | {"DELETE"},
    "webhook_deliveries": _DML | {"DELETE"},
}
# Columns the app role may UPDATE where it may not update whole rows: ending an association in place.
EXPECTED_COLUMNS = {
    "partner_associations": {"valid_to", "ended_by", "ended_by_role", "ended_by_client_id", "end_reason", "status"},
    "change_events": {"sequence"},  # set once, by the sequencer, when the event is published
}
_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def _server_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def own_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of this module's own, migrated to head: the session's shared one is also where the PostGraphile
    benchmark's tests install their row-level security policies, which bind every role but a superuser."""
    with databases.migrated_database("postgresql", tmp_path_factory.mktemp("app_role")) as url:
        yield url


@pytest.fixture
async def database(own_database_url: str) -> AsyncIterator[Database]:
    """This module's database, emptied, as its owner."""
    db = Database.from_url(own_database_url, pool_size=5)
    await empty_all_tables(db)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def app_role_url(own_database_url: str) -> Iterator[str]:
    """A login role IN ROLE dpor_app, as an operator creates it (README, Deployment); its URL to the test database."""
    with databases.app_role_login(own_database_url, "dpor_test_app") as url:
        yield url


@pytest.fixture
async def as_app_role(database: Database, app_role_url: str) -> AsyncIterator[Database]:
    """The test's (emptied) database, connected to as the app role."""
    db = Database.from_url(app_role_url, pool_size=5)
    try:
        yield db
    finally:
        await db.dispose()


async def test_every_table_grants_the_app_role_exactly_what_it_needs(database: Database) -> None:
    async with database.engine.connect() as connection:
        tables = set(
            # The usage tables' month partitions are reached through their parents only (see below).
            (
                await connection.execute(
                    text(
                        "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace"
                        " AND relkind IN ('r', 'p') AND NOT relispartition"
                    )
                )
            )
            .scalars()
            .all()
        )
        assert tables == set(EXPECTED), "every table of the schema has its expected privileges here"
        assert {table.name for table in Base.metadata.sorted_tables} <= tables
        granted = {}
        for table in sorted(tables):
            held = await connection.execute(
                text("SELECT p FROM unnest(CAST(:privileges AS text[])) p WHERE has_table_privilege(:role, :t, p)"),
                {"privileges": list(_PRIVILEGES), "role": APP_ROLE, "t": table},
            )
            granted[table] = set(held.scalars().all())
        columns = await connection.execute(
            text(
                "SELECT table_name, column_name FROM information_schema.column_privileges"
                " WHERE grantee = :role AND privilege_type = 'UPDATE' AND table_schema = current_schema()"
            ),
            {"role": APP_ROLE},
        )
        updatable: dict[str, set[str]] = {}
        for table, column in columns.all():
            if "UPDATE" not in granted[table]:
                updatable.setdefault(table, set()).add(column)
        role = (
            await connection.execute(
                text(
                    "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolcanlogin FROM pg_roles"
                    " WHERE rolname = :role"
                ),
                {"role": APP_ROLE},
            )
        ).one()
    assert granted == EXPECTED
    assert updatable == EXPECTED_COLUMNS
    assert tuple(role) == (False, False, False, False, False)


async def test_partitions_grant_the_app_role_nothing_and_it_may_only_ask_for_months(database: Database) -> None:
    """PostgreSQL checks privileges on the table a statement names: through a parent every partition is reached,
    a partition named directly refuses the app role. It makes months only through the SECURITY DEFINER function,
    which no one else (PUBLIC) may call, and draws usage ids from their sequence."""
    async with database.engine.connect() as connection:
        partitions = (
            (
                await connection.execute(
                    text(
                        "SELECT relname FROM pg_class WHERE relispartition"
                        " AND relnamespace = current_schema()::regnamespace"
                    )
                )
            )
            .scalars()
            .all()
        )
        assert partitions, "revision 0009 makes the current month's partitions and some ahead"
        for name in partitions:
            held = await connection.execute(
                text("SELECT p FROM unnest(CAST(:privileges AS text[])) p WHERE has_table_privilege(:role, :t, p)"),
                {"privileges": list(_PRIVILEGES), "role": APP_ROLE, "t": name},
            )
            assert held.scalars().all() == [], name
        function = "usage_partitions_ensure(date[])"
        may_call = await connection.execute(
            text(
                "SELECT has_function_privilege(:role, :f, 'EXECUTE'), has_function_privilege('public', :f, 'EXECUTE')"
            ),
            {"role": APP_ROLE, "f": function},
        )
        assert tuple(may_call.one()) == (True, False)
        sequence = await connection.execute(
            text("SELECT has_sequence_privilege(:role, 'usage_records_id_seq', 'USAGE')"), {"role": APP_ROLE}
        )
        assert sequence.scalar_one() is True


async def test_the_app_role_ingests_into_a_month_without_partitions(database: Database, as_app_role: Database) -> None:
    month = "2024-06"
    async with database.engine.begin() as connection:
        for table in ("usage_records", "usage_daily_rollups", "usage_monthly_rollups"):
            await connection.execute(text(f"DROP TABLE IF EXISTS {table}_p{month.replace('-', '_')}"))
    tenant = factories.tenant()
    async with database.write() as session:
        await factories.add_flushed(session, tenant)
        subscription = factories.subscription(tenant)
        await factories.add_flushed(session, subscription)
    ingester = as_app_role.acting(request_caller(frozenset(), None, None, write_reach(frozenset({Role.USAGE_INGEST}))))
    for replaced in (0, 1):
        async with ingester.write() as session:
            batch = [record(subscription, f"{month}-02")]
            result = await ingest_usage(session, batch, today=datetime(2026, 1, 1).date())
        assert (result.inserted, result.replaced) == (1 - replaced, replaced)
    with pytest.raises(DBAPIError) as refused:
        async with as_app_role.engine.begin() as connection:
            await connection.execute(text("SELECT count(*) FROM usage_records_p2024_06"))
    assert isinstance(refused.value.orig.__cause__, asyncpg.InsufficientPrivilegeError)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM audit_events",
        "UPDATE audit_events SET action = 'rewritten'",
        "TRUNCATE audit_events",
        "DELETE FROM partner_associations",
        "UPDATE partner_associations SET valid_from = now()",
        "UPDATE partner_associations SET partner_id = partner_id",
        "DELETE FROM usage_records",
        "CREATE TABLE smuggled (id int)",
        "DROP TABLE tenants",
        "ALTER TABLE partner_associations DISABLE TRIGGER USER",
        "ALTER TABLE tenants ENABLE ROW LEVEL SECURITY",
        "UPDATE alembic_version SET version_num = '0001'",
        # Archiving is the owner's (dpor-gateway partitions): the current month's partition exists since migrating.
        f"ALTER TABLE usage_records DETACH PARTITION usage_records_p{date.today():%Y_%m}",
    ],
)
async def test_the_app_role_cannot_rewrite_history_or_change_the_schema(as_app_role: Database, statement: str) -> None:
    with pytest.raises(DBAPIError) as refused:
        async with as_app_role.engine.begin() as connection:
            await connection.execute(text(statement))
    cause = refused.value.orig.__cause__  # type: ignore[union-attr]
    assert isinstance(cause, asyncpg.InsufficientPrivilegeError), refused.value


async def test_an_ended_association_never_changes_again_whoever_asks(database: Database) -> None:
    tenant = factories.tenant()
    partner = factories.partner()
    subscription = factories.subscription(tenant)
    started = datetime(2026, 1, 1, tzinfo=UTC)
    active = factories.association(subscription, partner, type=AssociationType.TRANSACTING_PARTNER)
    ended = factories.association(
        subscription, partner, valid_to=started, ended_by="test", end_reason=AssociationEndReason.REMOVED_BY_OWNER
    )
    async with database.write() as session:
        await factories.add_flushed(session, tenant, partner)
        await factories.add_flushed(session, subscription)
        await factories.add_flushed(session, active, ended)
    # The owner itself (the tests connect as it) is held by the trigger: ended history is not rewritten.
    for change in ("valid_to = valid_to + interval '1 day'", "ended_by = 'someone else'", "valid_to = NULL"):
        with pytest.raises(DBAPIError, match="its history is not rewritten"):
            async with database.engine.begin() as connection:
                await connection.execute(
                    text(f"UPDATE partner_associations SET {change} WHERE id = :id"), {"id": ended.id}
                )
    # An active one is ended in place, once.
    async with database.engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE partner_associations SET valid_to = now(), ended_by = 'test', end_reason = 'UNLINKED'"
                " WHERE id = :id"
            ),
            {"id": active.id},
        )


async def test_the_api_story_runs_as_the_app_role(as_app_role: Database) -> None:
    async with api_for(as_app_role) as api:
        await the_whole_story(api)


async def test_bulk_changes_run_as_the_app_role(as_app_role: Database) -> None:
    async with api_for(as_app_role) as api:
        # The story's own setup and checks read and write the whole database: test seeding, system work.
        await the_bulk_story(api, as_app_role.acting(system(SystemTask.SEED)))


async def test_access_bound_links_and_claims_run_as_the_app_role(
    database: Database, as_app_role: Database, server_clock: ServerClock
) -> None:
    """The admin link's and the claim's locks on the partner's delegated admin relationship (resolvers.access) pass
    the row-level security policies as the caller: the stories of issue 14 that take them run unchanged."""
    seeding = as_app_role.acting(system(SystemTask.SEED))
    for story in (pal_story, links_racing_the_end, the_claims_story):
        await empty_all_tables(database)  # as the superuser: the app role deletes no history
        async with api_for(as_app_role) as api:
            await story(api, seeding, server_clock)


async def test_production_serves_only_as_a_least_privileged_role(
    own_database_url: str, app_role_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    owner = production_settings(tmp_path, database_url=own_database_url)  # the tests connect as a superuser
    with pytest.raises(SettingsError, match=r"^DPOR_DATABASE_URL: the database role 'postgres' is a superuser"):
        await refuse_a_privileged_database_role(owner)
    await refuse_a_privileged_database_role(production_settings(tmp_path, database_url=app_role_url))
    with caplog.at_level(logging.WARNING):
        await refuse_a_privileged_database_role(dev_settings(tmp_path, database_url=own_database_url))
    assert "production refuses to start like this" in caplog.text


async def test_production_is_not_ready_as_a_privileged_role(
    database: Database, as_app_role: Database, tmp_path: Path
) -> None:
    for db, expected in ((database, 503), (as_app_role, 200)):
        settings = production_settings(tmp_path, database_url=db.engine.url.render_as_string(hide_password=False))
        app = create_app(settings, db)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as client:
            response = await client.get("/readyz")
        assert response.status_code == expected, response.text
        if expected == 503:
            assert response.json()["reason"] == "database role not least-privileged"  # names no role to a prober


def test_migrations_run_as_the_owner_while_the_gateway_connects_as_the_app_role(
    app_role_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner_url = databases.create_postgres_database()
    try:
        app_url = make_url(app_role_url).set(database=make_url(owner_url).database)
        monkeypatch.setenv("DPOR_DATABASE_URL", app_url.render_as_string(hide_password=False))
        # As the app role alone, migrating is refused: it may not create tables.
        monkeypatch.delenv("DPOR_MIGRATION_DATABASE_URL", raising=False)
        with pytest.raises(DBAPIError, match="permission denied"):
            migrate.run(argparse.Namespace(to="head"))
        monkeypatch.setenv("DPOR_MIGRATION_DATABASE_URL", owner_url)
        assert migrate.run(argparse.Namespace(to="head")) == 0

        async def owners() -> set[str]:
            connection = await asyncpg.connect(_server_dsn(owner_url))
            try:
                rows = await connection.fetch("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
            finally:
                await connection.close()
            return {row[0] for row in rows}

        assert asyncio.run(owners()) == {make_url(owner_url).username}
    finally:
        databases.drop_postgres_database(owner_url)
