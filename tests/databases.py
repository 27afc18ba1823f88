"""Test databases: a migrated SQLite file always, and a fresh PostgreSQL database when DPOR_TEST_POSTGRES_URL is set.

No silent skip: when the variable is set and the server cannot be reached, creating the database raises and the
run fails.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

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
