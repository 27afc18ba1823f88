"""The migrations build exactly the schema the models describe, and take it down again, on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, inspect
from sqlalchemy.engine import Connection

from db import migrations, partitions
from db.association import ROW_SECURITY_COLUMNS
from db.engine import create_engine
from db.models import Base
from db.usage import TRIGGER_CHECKED_FOREIGN_KEYS

T = TypeVar("T")


def _inspect(url: str, look: Callable[[Connection], T]) -> T:
    """Run a synchronous inspection against the database, in one event loop from connect to dispose."""

    async def run() -> T:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(look)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _differences(connection: Connection) -> list[object]:
    # The usage tables' month partitions (PostgreSQL) are the function's, not the models': the parents are compared.
    def modelled(name: str | None, type_: str, _parent: object) -> bool:
        return not (type_ == "table" and name is not None and partitions.is_partition_name(name))

    # On PostgreSQL usage's foreign keys are set-based triggers (db.usage), and the policies read a column the
    # models do not map (db.association): their absence from the models is by design.
    def compared(item: object, name: str | None, type_: str, _reflected: bool, _other: object) -> bool:
        if connection.dialect.name != "postgresql":
            return True
        if type_ == "foreign_key_constraint":
            return name not in TRIGGER_CHECKED_FOREIGN_KEYS
        if isinstance(item, Column):
            return (item.table.name, name) not in ROW_SECURITY_COLUMNS
        return True

    opts = {"compare_type": True, "include_name": modelled, "include_object": compared}
    context = MigrationContext.configure(connection, opts=opts)
    return list(compare_metadata(context, Base.metadata))


def test_upgrade_from_empty_creates_every_table(empty_database_url: str) -> None:
    migrations.upgrade(empty_database_url)
    tables = _inspect(empty_database_url, _table_names)
    revision = _inspect(empty_database_url, _revision)
    assert set(Base.metadata.tables) <= tables
    assert revision == migrations.head_revision()


def test_models_and_migrations_agree(empty_database_url: str) -> None:
    migrations.upgrade(empty_database_url)
    assert _inspect(empty_database_url, _differences) == []


def test_downgrade_to_base_removes_everything(empty_database_url: str) -> None:
    migrations.upgrade(empty_database_url)
    migrations.downgrade(empty_database_url, "base")
    tables = _inspect(empty_database_url, _table_names)
    assert tables <= {"alembic_version"}
