"""What a mutation's payload may show: the rows it carries, checked against the caller's row filters.

A mutation reaches its target through the operation's grant (auth.policy.OPERATIONS); what its payload then shows
must pass the row filters every read passes (auth.row_filters), or a payload would be a way round them. The rows are
in hand already (written or locked by the transaction, or recorded by an idempotent first run), so the database is
asked only whether the caller sees each: one statement of EXISTS columns, inside the mutation's transaction (so a
row it cannot show is refused before anything commits), and none when every predicate is constant true (a platform
admin, whose ALL needs no SQL).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, Uuid, bindparam, exists, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from auth.policy import Entity
from auth.row_filters import Shape, parameters, predicate, shape
from auth.scope import CallerScope
from db.association import PartnerAssociation
from db.delegation import DelegatedAdminRelationship
from db.dpor_invitation import DporInvitation
from db.partner import Partner
from db.subscription import Subscription
from db.tenant import Tenant, TenantContact
from resolvers.errors import NotFound

# The table each entity's row filter is written against (auth.row_filters); usage and audit events are not payloads.
MODELS: Mapping[Entity, type[Any]] = {
    Entity.TENANT: Tenant,
    Entity.CONTACT: TenantContact,
    Entity.SUBSCRIPTION: Subscription,
    Entity.PARTNER: Partner,
    Entity.PARTNER_ASSOCIATION: PartnerAssociation,
    Entity.DELEGATED_ADMIN_RELATIONSHIP: DelegatedAdminRelationship,
    Entity.DPOR_INVITATION: DporInvitation,
}


def _row(position: int) -> str:
    return f"payload_row_{position}"


@functools.cache
def _statement(shapes: tuple[Shape, ...]) -> Select[*tuple[bool, ...]]:
    """Whether each bound id is a visible row of its shape's entity: built once per sequence of caller shapes."""
    return select(
        *(
            exists()
            .where(MODELS[row_shape[0]].id == bindparam(_row(position), type_=Uuid()), predicate(row_shape))
            .label(_row(position))
            for position, row_shape in enumerate(shapes)
        )
    )


async def visible(
    session: AsyncSession, scope: CallerScope, *rows: tuple[Entity, uuid.UUID | None]
) -> tuple[bool, ...]:
    """For each (entity, id) of a row in hand, whether the caller's row filters let it see that row (a None id:
    False). The ids must be of rows that exist: a constant-true filter answers True without asking."""
    shapes = [shape(entity, scope) for entity, _ in rows]
    asked = [
        (row_shape, row_id)
        for row_shape, (_, row_id) in zip(shapes, rows, strict=True)
        if row_id is not None and predicate(row_shape) is not true()
    ]
    answers: list[bool] = []
    if asked:
        values = {_row(position): row_id for position, (_, row_id) in enumerate(asked)}
        statement = _statement(tuple(row_shape for row_shape, _ in asked))
        answers = [bool(value) for value in (await session.execute(statement, {**parameters(scope), **values})).one()]
    remaining = iter(answers)
    return tuple(
        row_id is not None and (predicate(row_shape) is true() or next(remaining))
        for row_shape, (_, row_id) in zip(shapes, rows, strict=True)
    )


class Identified(Protocol):
    """A row with a primary key `id` (every payload row)."""

    @property
    def id(self) -> uuid.UUID: ...


M = TypeVar("M", bound=Identified)


async def shown(session: AsyncSession, scope: CallerScope, entity: Entity, row: M, what: str) -> M:
    """`row`, if the caller sees it; NOT_FOUND otherwise, which rolls the mutation back: the caller cannot keep a
    change it could not be shown, and a hidden row and a missing one stay indistinguishable."""
    (seen,) = await visible(session, scope, (entity, row.id))
    if not seen:
        raise NotFound(what)
    return row
