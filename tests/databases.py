"""Test databases: a migrated SQLite file always, and a fresh PostgreSQL database when DPOR_TEST_POSTGRES_URL is set.

No silent skip: when the variable is set and the server cannot be reached, creating the database raises and the
run fails.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from db import migrations

POSTGRES_URL_VARIABLE = "DPOR_TEST_POSTGRES_URL"


def backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(POSTGRES_URL_VARIABLE) else ["sqlite"]


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'test.sqlite3'}"


def _server_dsn(database: str) -> str:
    url = make_url(os.environ[POSTGRES_URL_VARIABLE]).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


def create_postgres_database() -> str:
    """Create an empty database with a unique name; return its SQLAlchemy URL."""
    name = f"dpor_test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        connection = await asyncpg.connect(_server_dsn("postgres"), timeout=10)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())
    url = make_url(os.environ[POSTGRES_URL_VARIABLE]).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    name = make_url(url).database

    async def drop() -> None:
        connection = await asyncpg.connect(_server_dsn("postgres"), timeout=10)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(drop())


@contextmanager
def migrated_database(backend: str, directory: Path) -> Iterator[str]:
    """A database of its own on `backend` (a SQLite file in `directory`, or a new PostgreSQL database), migrated to
    head; a PostgreSQL one is dropped when the block ends."""
    if backend == "sqlite":
        url = sqlite_url(directory)
        migrations.upgrade(url)
        yield url
        return
    url = create_postgres_database()
    try:
        migrations.upgrade(url)
        yield url
    finally:
        drop_postgres_database(url)


@contextmanager
def app_role_login(database_url: str, prefix: str) -> Iterator[str]:
    """A login role IN ROLE dpor_app, as an operator creates it (README, Deployment), for the block's length: the
    URL of `database_url`'s database as that role."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    server = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def run(statement: str) -> None:
        connection = await asyncpg.connect(server, timeout=10)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run(f"CREATE ROLE {name} LOGIN IN ROLE dpor_app"))
    try:
        yield make_url(database_url).set(username=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f"DROP ROLE {name}"))
