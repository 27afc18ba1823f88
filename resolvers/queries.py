"""Set-based reads shared by every connection: one page of a query, or pages for many parents in one statement.

Every function takes the policy's predicate (auth.row_filters.visible) as a required argument: there is no way to
read rows here without saying which rows the caller may see.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from resolvers.pagination import Page, SortKey, build_page

M = TypeVar("M")


def sort_values(key: SortKey, row: object) -> list[object]:
    return [getattr(row, column.key) for column in key.columns]


async def fetch_page(
    session: AsyncSession,
    statement: Select[M],
    *,
    visible: ColumnElement[bool],
    key: SortKey,
    size: int,
    after: str | None,
) -> Page[M]:
    statement = statement.where(visible)
    after_clause = key.after(after)
    if after_clause is not None:
        statement = statement.where(after_clause)
    rows = (await session.scalars(statement.order_by(*key.order_by()).limit(size + 1))).all()
    return build_page(rows, size, key, lambda row: sort_values(key, row), after=after)


async def count_rows(session: AsyncSession, statement: Select[Any], *, visible: ColumnElement[bool]) -> int:
    counted = select(func.count()).select_from(statement.where(visible).order_by(None).subquery())
    return int(await session.scalar(counted) or 0)


async def fetch_pages_by_parent(
    session: AsyncSession,
    model: type[M],
    parent: InstrumentedAttribute[uuid.UUID],
    parent_ids: Sequence[uuid.UUID],
    *,
    where: Iterable[ColumnElement[bool]],
    visible: ColumnElement[bool],
    key: SortKey,
    size: int,
    after: str | None,
) -> dict[uuid.UUID, Page[M]]:
    """The first `size` rows after `after` for each parent, in one statement (ROW_NUMBER per parent)."""
    conditions = [parent.in_(parent_ids), visible, *where]
    after_clause = key.after(after)
    if after_clause is not None:
        conditions.append(after_clause)
    position = func.row_number().over(partition_by=parent, order_by=key.order_by()).label("position")
    ranked = select(model, position).where(*conditions).subquery()
    row = aliased(model, ranked)
    statement = select(row).where(ranked.c.position <= size + 1).order_by(ranked.c[parent.key], ranked.c.position)
    grouped: dict[uuid.UUID, list[M]] = defaultdict(list)
    for item in (await session.scalars(statement)).all():
        grouped[getattr(item, parent.key)].append(item)
    return {
        parent_id: build_page(grouped.get(parent_id, []), size, key, lambda r: sort_values(key, r), after=after)
        for parent_id in parent_ids
    }


async def count_by_parent(
    session: AsyncSession,
    parent: InstrumentedAttribute[uuid.UUID],
    parent_ids: Sequence[uuid.UUID],
    *,
    where: Iterable[ColumnElement[bool]],
    visible: ColumnElement[bool],
) -> dict[uuid.UUID, int]:
    statement = select(parent, func.count()).where(parent.in_(parent_ids), visible, *where).group_by(parent)
    counts = {parent_id: int(count) for parent_id, count in (await session.execute(statement)).all()}
    return {parent_id: counts.get(parent_id, 0) for parent_id in parent_ids}


async def fetch_by_ids(
    session: AsyncSession,
    model: type[M],
    id_column: InstrumentedAttribute[uuid.UUID],
    ids: Sequence[uuid.UUID],
    *,
    visible: ColumnElement[bool],
) -> list[M | None]:
    """Rows by primary key in the order asked, None where absent or invisible (the two look the same)."""
    rows = (await session.scalars(select(model).where(id_column.in_(ids), visible))).all()
    by_id = {getattr(row, id_column.key): row for row in rows}
    return [by_id.get(row_id) for row_id in ids]
