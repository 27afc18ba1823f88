"""Declarative base with a fixed constraint naming convention.

Named constraints make migrations reproducible: Alembic can drop and compare them by name on both databases.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime

from typing import TypeVar

from sqlalchemy import Enum, MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


E = TypeVar("E", bound=enum.Enum)


def enum_column(enum_class: type[E], name: str) -> Enum:
    """Enums stored by member name in a VARCHAR with a CHECK, identical on SQLite and PostgreSQL.

    Native PostgreSQL enums would need ALTER TYPE migrations for every new member; a checked string does not.
    """
    return Enum(enum_class, name=name, native_enum=False, create_constraint=True, length=40)
