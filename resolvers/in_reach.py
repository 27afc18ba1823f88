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
from collections.abc import Collection, Mapping
from typing import Any, Protocol, TypeVar

from sqlalchemy import CompoundSelect, Select, Uuid, bindparam, exists, literal_column, select, true, union_all
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
from db.webhook import WebhookEndpoint
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
    Entity.WEBHOOK_ENDPOINT: WebhookEndpoint,
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


def _ids(position: int) -> str:
    return f"payload_ids_{position}"


@functools.cache
def _among_statement(shapes: tuple[Shape, ...]) -> Select[Any] | CompoundSelect[Any]:
    """(position, id) of each visible row among the bound ids of each shape's entity: one statement for any number
    of rows, built once per sequence of caller shapes (the id lists are expanding parameters)."""
    parts = [
        select(literal_column(str(position)).label("position"), MODELS[row_shape[0]].id.label("id")).where(
            MODELS[row_shape[0]].id.in_(bindparam(_ids(position), expanding=True, type_=Uuid())),
            predicate(row_shape),
        )
        for position, row_shape in enumerate(shapes)
    ]
    return parts[0] if len(parts) == 1 else union_all(*parts)


async def visible_among(
    session: AsyncSession, scope: CallerScope, wanted: Mapping[Entity, Collection[uuid.UUID]]
) -> dict[Entity, set[uuid.UUID]]:
    """For each entity, which of the ids (of rows in hand that exist) the caller's row filters let it see: the
    set-based form of `visible`, one statement whatever the number of rows (a batch's payload), none when every
    filter is constant true."""
    seen: dict[Entity, set[uuid.UUID]] = {entity: set() for entity in wanted}
    asked: list[tuple[Shape, Entity, list[uuid.UUID]]] = []
    for entity, ids in wanted.items():
        row_shape = shape(entity, scope)
        if not ids:
            continue
        if predicate(row_shape) is true():
            seen[entity] = set(ids)
        else:
            asked.append((row_shape, entity, sorted(set(ids))))
    if asked:
        statement = _among_statement(tuple(row_shape for row_shape, _, _ in asked))
        values = {_ids(position): ids for position, (_, _, ids) in enumerate(asked)}
        for position, row_id in (await session.execute(statement, {**parameters(scope), **values})).all():
            seen[asked[int(position)][1]].add(row_id)
    return seen


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
