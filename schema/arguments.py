"""Arguments shared by many fields, described once."""

from __future__ import annotations

from typing import Annotated

import strawberry

# Required in practice: the cost estimate (schema/extensions/cost.py) refuses a connection without `first`, since a
# page's size bounds the work of everything nested under it. Optional in the SDL so the refusal is BAD_USER_INPUT
# naming the field rather than a bare validation error.
First = Annotated[
    int | None,
    strawberry.argument(description="Page size, 1 to 100; required on every connection. Else BAD_USER_INPUT."),
]
After = Annotated[
    str | None, strawberry.argument(description="Return items after this cursor (a previous pageInfo.endCursor).")
]
NodeId = Annotated[strawberry.ID, strawberry.argument(description="The object's global ID.")]
Filter = strawberry.argument(description="Narrows the list; omitted fields do not filter.")
MutationInput = strawberry.argument(description="The mutation's input.")
