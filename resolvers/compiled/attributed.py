"""`attributedSubscriptions` in SQL, as resolvers/reads/attributed.py reads it: the subscriptions the partner is or
was associated with (through association rows the caller may see), in subscription order, each edge with the
partner's association rows on it, oldest first.

Compiled without a `filter` only (the interpreter keeps the windowed and typed variants for now). Whose rows, read
from auth.policy.OPERATIONS as the interpreter reads them: the caller's own partner when `partnerId` is omitted (an
OWN_PARTNER grant, and a token whose MPN id is known); a given `partnerId` only for a caller whose grant reaches
every partner (ALL). Every other case (no such grant, an unknown MPN id's empty page, another partner's id) is an
error or a special answer the interpreter words."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from graphql import FieldNode
from sqlalchemy import ColumnElement, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.types import Uuid

from auth.row_filters import SCOPE_PARTNER_ID
from resolvers.compiled.bindings import argument, row_id
from resolvers.compiled.catalog import TYPES
from resolvers.compiled.errors import NotCompilable
from resolvers.loaders import SUBSCRIPTION_ORDER
from resolvers.reads.attributed import reaches_every_partner, reads_own_partner

if TYPE_CHECKING:
    from resolvers.compiled.planner import Builder

ASSOCIATION = TYPES["PartnerAssociation"]
SUBSCRIPTION = TYPES["Subscription"]


def attributed_subscriptions(builder: Builder, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
    partner = _partner(builder, nodes)

    def mine(associations: Any) -> list[ColumnElement[bool]]:
        return [associations.c.partner_id == partner, builder.visible(ASSOCIATION, associations)]

    def where(child: Any) -> list[ColumnElement[bool]]:
        matching = builder.alias(ASSOCIATION)
        return [child.c.id.in_(select(matching.c.subscription_id).where(*mine(matching)))]

    def associations(page: Any, field_nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
        if any(node.arguments for node in field_nodes):
            raise NotCompilable("arguments of associations")
        rows = builder.alias(ASSOCIATION)
        ordered = aggregate_order_by(builder.object_json(ASSOCIATION, rows, field_nodes), rows.c.valid_from, rows.c.id)
        return (
            select(func.coalesce(func.json_agg(ordered), literal_column("'[]'::json")))
            .where(rows.c.subscription_id == page.c.id, *mine(rows))
            .scalar_subquery()
        )

    return builder.connections.root_with(
        SUBSCRIPTION,
        SUBSCRIPTION_ORDER,
        where,
        nodes,
        allowed={"first", "after", "partnerId"},
        type_name="AttributedSubscription",
        edge_fields={"associations": associations},
    )


def _partner(builder: Builder, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
    sources = {argument(node, "partnerId") for node in nodes}
    if len(sources) != 1:
        raise NotCompilable("attributedSubscriptions merged with differing partners")
    (source,) = sources
    if source.value(builder.variables) is None:
        if not reads_own_partner(builder.caller.roles) or not builder.caller.known.partner:
            raise NotCompilable("attributedSubscriptions without a known partner of the caller's own")
        return bindparam(SCOPE_PARTNER_ID, type_=Uuid())
    if not reaches_every_partner(builder.caller.roles):
        raise NotCompilable("attributedSubscriptions of a given partner, for a caller whose grant reaches only its own")
    return builder.bind(source, row_id(builder.decode_id, "Partner"), Uuid())
