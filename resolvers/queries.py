"""Set-based reads shared by every connection: one page of a query, or pages for many parents in one statement.

Every function takes the policy's row filter (auth.row_filters.Visibility) as a required argument: there is no way
to read rows here without saying which rows the caller may see, and its values go with every execution.
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Integer, Select, any_, bindparam, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from auth.row_filters import Shape, Visibility, predicate
from resolvers.pagination import Page, SortKey, build_page

M = TypeVar("M")
IDS = "ids"
PAGE_LIMIT = "page_limit"  # a page statement's LIMIT: the page size plus one (the extra row says a next page exists)


def among_ids(column: Any, dialect: str, name: str = IDS) -> ColumnElement[bool]:
    """`column` is one of the list bound as `name`. PostgreSQL gets one array parameter (`= ANY`): an expanding IN
    is rewritten for every execution (about 0.1 ms) and its number of parameters is bounded. SQLite has no arrays."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))  # type: ignore[no-any-return]
    return column.in_(bindparam(name, expanding=True))  # type: ignore[no-any-return]


def with_visibility(visible: Visibility, **values: Any) -> Mapping[str, Any]:
    """Execution parameters: the caller's row-filter values plus the statement's own."""
    return {**visible.parameters, **values}


def sort_values(key: SortKey, row: object) -> list[object]:
    return [getattr(row, column.key) for column in key.columns]


def page_statement(statement: Select[M], visible: ColumnElement[bool], *, key: SortKey, after: str | None) -> Select[M]:
    """`statement`'s rows under the row filter `visible` after the cursor `after`, in `key` order, as many as
    PAGE_LIMIT says. A pure builder: the floor (bench.floor) runs the same statement."""
    statement = statement.where(visible)
    after_clause = key.after(after)
    if after_clause is not None:
        statement = statement.where(after_clause)
    return statement.order_by(*key.order_by()).limit(bindparam(PAGE_LIMIT, type_=Integer()))


def count_statement(statement: Select[Any], visible: ColumnElement[bool]) -> Select[Any]:
    """How many rows of `statement` the row filter `visible` lets through."""
    return select(func.count()).select_from(statement.where(visible).order_by(None).subquery())


async def fetch_page(
    session: AsyncSession,
    statement: Select[M],
    *,
    visible: Visibility,
    key: SortKey,
    size: int,
    after: str | None,
    values: Mapping[str, Any] | None = None,
) -> Page[M]:
    """`values`: the statement's own bind parameters, besides the row filter's."""
    paged = page_statement(statement, visible.predicate, key=key, after=after)
    parameters = with_visibility(visible, **(values or {}), **{PAGE_LIMIT: size + 1})
    rows = (await session.scalars(paged, parameters)).all()
    return build_page(rows, size, key, lambda row: sort_values(key, row), after=after)


async def count_rows(
    session: AsyncSession, statement: Select[Any], *, visible: Visibility, values: Mapping[str, Any] | None = None
) -> int:
    counted = count_statement(statement, visible.predicate)
    return int(await session.scalar(counted, with_visibility(visible, **(values or {}))) or 0)


async def fetch_pages_by_parent(
    session: AsyncSession,
    model: type[M],
    parent: InstrumentedAttribute[uuid.UUID],
    parent_ids: Sequence[uuid.UUID],
    *,
    where: Iterable[ColumnElement[bool]],
    visible: Visibility,
    key: SortKey,
    size: int,
    after: str | None,
) -> dict[uuid.UUID, Page[M]]:
    """The first `size` rows after `after` for each parent, in one statement (ROW_NUMBER per parent)."""
    conditions = [parent.in_(parent_ids), visible.predicate, *where]
    after_clause = key.after(after)
    if after_clause is not None:
        conditions.append(after_clause)
    position = func.row_number().over(partition_by=parent, order_by=key.order_by()).label("position")
    ranked = select(model, position).where(*conditions).subquery()
    row = aliased(model, ranked)
    statement = select(row).where(ranked.c.position <= size + 1).order_by(ranked.c[parent.key], ranked.c.position)
    grouped: dict[uuid.UUID, list[M]] = defaultdict(list)
    for item in (await session.scalars(statement, visible.parameters)).all():
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
    visible: Visibility,
) -> dict[uuid.UUID, int]:
    statement = select(parent, func.count()).where(parent.in_(parent_ids), visible.predicate, *where).group_by(parent)
    counts = {
        parent_id: int(count) for parent_id, count in (await session.execute(statement, visible.parameters)).all()
    }
    return {parent_id: counts.get(parent_id, 0) for parent_id in parent_ids}


@functools.cache
def by_ids(model: type[Any], shape: Shape, dialect: str) -> Select[Any]:
    """Rows of `model` among the ids bound as `ids` that a caller of `shape` may see."""
    return select(model).where(among_ids(model.id, dialect), predicate(shape))


async def fetch_by_ids(
    session: AsyncSession,
    model: type[M],
    ids: Sequence[uuid.UUID],
    *,
    visible: Visibility,
) -> list[M | None]:
    """Rows by primary key (`id`) in the order asked, None where absent or invisible (the two look the same).
    The statement is built once per model, caller shape and dialect."""
    # (mypy reads a class as unhashable here; mapped classes hash by identity)
    statement = by_ids(model, visible.shape, session.get_bind().dialect.name)  # type: ignore[arg-type]
    rows = (await session.scalars(statement, with_visibility(visible, ids=list(ids)))).all()
    by_id = {row.id: row for row in rows}
    return [by_id.get(row_id) for row_id in ids]
