"""Stored results of mutations sent with an idempotency key, so a retried request replays its first answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, utcnow
from db.types import UTCDateTime


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"

    # A key is the caller's own: the same key from two callers is two records.
    caller: Mapped[str] = mapped_column(String(256), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    operation: Mapped[str] = mapped_column(String(64))
    # sha256 of the canonical input: the same key with another input is a CONFLICT.
    input_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
