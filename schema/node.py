"""The Relay building blocks: the Node interface, page info, and generic cursor connections."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry

from resolvers.pagination import Page

NodeT = TypeVar("NodeT")
RowT = TypeVar("RowT")


@strawberry.interface(description="An object with a global ID, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global ID; pass it back as is.")


@strawberry.type(description="Where a page sits in its list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow; fetch them with `after: endCursor`.")
    has_previous_page: bool = strawberry.field(description="This page was fetched with `after`.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge, if any.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last edge; pass as `after` for the next page.")


@strawberry.type(description="One item of a connection, with its cursor.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(description="Opaque cursor of this item (stable: keyset, not an offset).")
    node: NodeT = strawberry.field(description="The item.")


async def _no_count() -> int:
    return 0


@strawberry.type(description="A page of a list, paginated by opaque cursors.")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]] = strawberry.field(description="The items of this page, in order.")
    page_info: PageInfo = strawberry.field(description="Pagination state.")
    counter: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Number of items in the whole list visible to the caller (counted on request).")
    async def total_count(self) -> int:
        return await self.counter()


def page_info(page: Page[Any], cursors: Sequence[str]) -> PageInfo:
    return PageInfo(
        has_next_page=page.has_next_page,
        has_previous_page=page.has_previous_page,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )


def connection(
    page: Page[RowT], convert: Callable[[RowT], NodeT], counter: Callable[[], Awaitable[int]]
) -> Connection[NodeT]:
    edges = [Edge(cursor=cursor, node=convert(item)) for item, cursor in zip(page.items, page.cursors, strict=True)]
    return Connection(edges=edges, page_info=page_info(page, page.cursors), counter=counter)
