"""Partitions for the months a usage write is about to touch (db/partitions.py), before it touches them.

A write into an archived month is the caller's conflict with an operator's archive, not a failure: CONFLICT,
naming the month, and nothing of the batch is written (the caller's transaction rolls back).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from db import partitions
from resolvers.errors import Conflict


async def ensure_months(session: AsyncSession, days: Iterable[date]) -> None:
    try:
        await partitions.ensure_months(session, days)
    except partitions.ArchivedMonth as archived:
        raise Conflict(str(archived), reason="USAGE_MONTH_ARCHIVED") from None


async def ensure_staged_months(session: AsyncSession, days_query: str) -> None:
    """ensure_months for the days of a batch staged in SQL (PostgreSQL)."""
    try:
        await partitions.ensure_months_of(session, days_query)
    except partitions.ArchivedMonth as archived:
        raise Conflict(str(archived), reason="USAGE_MONTH_ARCHIVED") from None
