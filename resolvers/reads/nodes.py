"""`node`, `nodes` and the by-id roots (`tenant`, `subscription`, `partner`): rows by global-id type and row id.

Every row comes through the request's DataLoaders, which carry the caller's row filters: a row out of reach is
None, exactly like one that does not exist.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from strawberry.dataloader import DataLoader

from resolvers.loaders import Loaders

# `nodes` takes at most this many ids (more is BAD_USER_INPUT; the compiled path leaves those to the interpreter).
MAX_NODES = 100

# Types fetchable by global id: the loader that reads them. schema/query.py converts each with its type's from_row.
NODE_LOADERS: Mapping[str, Callable[[Loaders], DataLoader[uuid.UUID, Any]]] = {
    "Tenant": lambda loaders: loaders.tenant,
    "Subscription": lambda loaders: loaders.subscription,
    "Partner": lambda loaders: loaders.partner,
    "PartnerAssociation": lambda loaders: loaders.association,
    "DelegatedAdminRelationship": lambda loaders: loaders.delegation,
    "AuditEvent": lambda loaders: loaders.audit_event,
}


async def load_nodes(loaders: Loaders, refs: Sequence[tuple[str, uuid.UUID]]) -> list[Any | None]:
    """The rows of (type name, row id) pairs, in order; None for a type without nodes, or a row that is missing or
    out of reach. All loads start at once, so each type's loader batches its ids into one statement whatever
    their number."""
    rows = iter(
        await asyncio.gather(
            *(NODE_LOADERS[type_name](loaders).load(row_id) for type_name, row_id in refs if type_name in NODE_LOADERS)
        )
    )
    return [next(rows) if type_name in NODE_LOADERS else None for type_name, _ in refs]
