"""One page of a root connection, with the size of the whole list counted only when a client asks for it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select

from auth.row_filters import Visibility
from db.engine import Database
from resolvers import queries
from resolvers.pagination import Page, Paging, SortKey

T = TypeVar("T")


@dataclass(frozen=True)
class Listing(Generic[T]):
    """A page of rows, and `count()`: the number of rows in the whole list the caller sees. The count is a
    statement of its own, sent only when awaited (`totalCount` is asked for far less often than edges)."""

    page: Page[T]
    count: Callable[[], Awaitable[int]]


async def list_rows(
    database: Database, statement: Select[Any], *, visible: Visibility, key: SortKey, paging: Paging
) -> Listing[Any]:
    """The page of `statement` that `paging` asks for, in `key` order, under the caller's row filter."""
    size = paging.size()
    async with database.read() as session:
        page = await queries.fetch_page(session, statement, visible=visible, key=key, size=size, after=paging.after)

    async def count() -> int:
        async with database.read() as session:
            return await queries.count_rows(session, statement, visible=visible)

    return Listing(page, count)
