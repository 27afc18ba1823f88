"""`Subscription.partnerAssociations(activeAt:, includeEnded:)` in SQL, as schema/subscription.py reads it: the
subscription's association rows the caller may see (loaders.associations_by_subscription), oldest first
(valid_from, id), kept as resolvers.loaders.active_at keeps them: in effect at `activeAt` when it is given, every row
with `includeEnded`, else the rows without an end.

Which of the three shapes the SQL takes is a plan input (whether `activeAt` is given, the value of `includeEnded`:
bindings.plan_inputs); the instant itself is a bind parameter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from graphql import BooleanValueNode, FieldNode, VariableNode
from sqlalchemy import ColumnElement, func, literal_column, or_, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from resolvers.compiled.bindings import Source, argument, instant, only_arguments
from resolvers.compiled.catalog import TYPES
from resolvers.compiled.errors import NotCompilable

if TYPE_CHECKING:
    from resolvers.compiled.planner import Builder

ASSOCIATION = TYPES["PartnerAssociation"]


def _oldest_first(rows: Any) -> tuple[Any, Any]:
    """The loader's order (resolvers.loaders._with_partner)."""
    return rows.c.valid_from, rows.c.id


def _flag(node: FieldNode, name: str, variables: Any) -> bool:
    """A Boolean! argument with default false: a literal, or a variable (its coerced value)."""
    for given in node.arguments or ():
        if given.name.value != name:
            continue
        if isinstance(given.value, BooleanValueNode):
            return given.value.value
        if isinstance(given.value, VariableNode):
            value = variables.get(given.value.name.value, False)
            if isinstance(value, bool):
                return value
        raise NotCompilable(f"argument {name}")
    return False


def partner_associations(builder: Builder, parent: Any, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
    for node in nodes:
        only_arguments(node, {"activeAt", "includeEnded"})
    instants: set[Source] = {argument(node, "activeAt") for node in nodes}
    flags = {_flag(node, "includeEnded", builder.variables) for node in nodes}
    if len(instants) != 1 or len(flags) != 1:
        raise NotCompilable("partnerAssociations merged with differing arguments")
    (at,), (include_ended,) = instants, flags
    rows = builder.alias(ASSOCIATION)
    conditions = [rows.c.subscription_id == parent.c.id, builder.visible(ASSOCIATION, rows)]
    if at.value(builder.variables) is not None:
        moment = builder.bind(at, _given_instant, rows.c.valid_from.type)
        conditions += [rows.c.valid_from <= moment, or_(rows.c.valid_to.is_(None), moment < rows.c.valid_to)]
    elif not include_ended:
        conditions.append(rows.c.valid_to.is_(None))
    listed = func.json_agg(aggregate_order_by(builder.object_json(ASSOCIATION, rows, nodes), *_oldest_first(rows)))
    return (
        select(func.coalesce(listed, literal_column("'[]'::json")))
        .where(*conditions)
        .correlate(parent)
        .scalar_subquery()
    )


def _given_instant(value: object) -> object:
    if value is None:
        raise NotCompilable("activeAt given, then not")  # the plan filters by it
    return instant(value)
