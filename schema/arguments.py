"""Arguments shared by many fields, described once."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from resolvers.context import RequestContext
from resolvers.pagination import Paging

First = Annotated[
    int | None,
    strawberry.argument(
        description="Page size, 1 to the configured maximum (100 unless set; default 20). More is BAD_USER_INPUT."
    ),
]
After = Annotated[
    str | None, strawberry.argument(description="Return items after this cursor (a previous pageInfo.endCursor).")
]
NodeId = Annotated[strawberry.ID, strawberry.argument(description="The object's global ID.")]
Filter = strawberry.argument(description="Narrows the list; omitted fields do not filter.")
MutationInput = strawberry.argument(description="The mutation's input.")


def paging(info: Info[RequestContext, None], first: int | None, after: str | None) -> Paging:
    """A connection's `first` and `after`, with the page-size bound in force for this request."""
    return Paging(first, after, info.context.max_page_size)
