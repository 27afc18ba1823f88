"""Declarative base with a fixed constraint naming convention.

Named constraints make migrations reproducible: Alembic can drop and compare them by name on both databases.
"""

from __future__ import annotations

import enum
import secrets
import threading
import time
import uuid
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Enum, MetaData
from sqlalchemy.orm import DeclarativeBase

from db import clock

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
    """Now, from the server's clock (db.clock), for the models' creation times."""
    return clock.now()


class _MonotonicUUIDv7:
    """UUIDv7 (RFC 9562, section 5.7) with the 12-bit rand_a field used as a counter (section 6.2, method 1).

    Ids sort in creation order within a process, so rows created in the same second (two association changes on
    one subscription, say) still have a total, meaningful order, and B-tree inserts land at the index's end.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0

    def __call__(self) -> uuid.UUID:
        with self._lock:
            now_ms = time.time_ns() // 1_000_000
            if now_ms > self._last_ms:
                self._last_ms, self._counter = now_ms, secrets.randbits(8)  # room to count up within the ms
            else:
                self._counter += 1
                if self._counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                    self._last_ms, self._counter = self._last_ms + 1, 0
            ms, counter = self._last_ms, self._counter
        value = (ms & (2**48 - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | secrets.randbits(62)
        return uuid.UUID(int=value)


new_id = _MonotonicUUIDv7()


E = TypeVar("E", bound=enum.Enum)


def enum_column(enum_class: type[E], name: str) -> Enum:
    """Enums stored by member name in a VARCHAR with a CHECK, identical on SQLite and PostgreSQL.

    Native PostgreSQL enums would need ALTER TYPE migrations for every new member; a checked string does not.
    """
    return Enum(enum_class, name=name, native_enum=False, create_constraint=True, length=40)
