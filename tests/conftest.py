"""Shared fixtures. Every database test runs once per backend (see tests/databases.py)."""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from db import migrations
from db.engine import Database
from db.models import Base
from gateway import health
from tests import databases
from tests.api import Api, api_for
from tests.browser.chromium import CHROMIUM_MISSING, find_chromium
from tests.server_clock import server_clock

__all__ = ["server_clock"]  # a fixture, shared by every test module

# httpx's in-process transport (and httpcore) ask on every request whether trio runs by importing sniffio, which the
# lock does not install: each failed import searches sys.path again, ~0.57 ms a request, and a run sends tens of
# thousands. None in sys.modules fails that import at once (0.002 ms) with the ModuleNotFoundError they expect.
if importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]


@pytest.fixture(scope="session", autouse=True)
def head_revision_read_once() -> Iterator[None]:
    """Every app built asks Alembic for the migration head (its /readyz compares the database's with it), and
    Alembic answers by loading, and compiling, every revision file again: ~14 ms an app, thousands of apps a run.
    The files do not change during a run, so the first answer stands for the session."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(health, "head_revision", functools.cache(migrations.head_revision))
        yield


@pytest.fixture(scope="session", params=databases.backends())
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated to head, shared by the session's tests on that backend."""
    with databases.migrated_database(request.param, tmp_path_factory.mktemp("sqlite")) as url:
        yield url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A Database whose tables are empty when the test starts."""
    db = Database.from_url(database_url, pool_size=5)
    await empty_all_tables(db)
    try:
        yield db
    finally:
        await db.dispose()


async def empty_all_tables(db: Database) -> None:
    # DELETE, not TRUNCATE: on tables this small PostgreSQL's TRUNCATE costs ~0.3 s of fixed overhead per test.
    deletes = [f"DELETE FROM {table.name}" for table in reversed(Base.metadata.sorted_tables)]
    async with db.engine.begin() as connection:
        if db.dialect == "postgresql":
            # One round trip: asyncpg sends a script without arguments as one simple query (one implicit
            # transaction), where a statement at a time is a prepare and an execute for each table.
            raw = await connection.get_raw_connection()
            await raw.driver_connection.execute(";\n".join(deletes))
            return
        for delete in deletes:
            await connection.execute(text(delete))


@pytest.fixture
def backend(database: Database) -> str:
    return database.dialect


def pytest_report_header() -> list[str]:
    chromium = find_chromium()
    browser = f"chromium {chromium}" if chromium else f"none, the GraphiQL browser test skips: {CHROMIUM_MISSING}"
    return [f"database backends: {', '.join(databases.backends())}", f"browser: {browser}"]


@pytest.fixture(params=databases.backends())
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it, not even the migration table: for tests of migrations themselves."""
    if request.param == "sqlite":
        yield databases.sqlite_url(tmp_path)
        return
    url = databases.create_postgres_database()
    try:
        yield url
    finally:
        databases.drop_postgres_database(url)


@pytest.fixture
async def api(database: Database) -> AsyncIterator[Api]:
    async with api_for(database) as client:
        yield client
