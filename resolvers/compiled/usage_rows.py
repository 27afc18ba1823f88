"""The rows of a usage field, from its statements' rows: summed by key, refused where the interpreter refuses,
and written as UsageAggregate objects in the interpreter's order (resolvers/usage/sums.py, schema/usage.py).

A statement's rows are partial sums of a key (a monthly row, days added or subtracted); sums.add_sums adds them
and sums.aggregate_rows keeps the keys with records left, sorted by the text of each key part. Here that is
`GROUP BY` the key, `HAVING sum(record_count) <> 0` and `json_agg(... ORDER BY)` the key's columns. The sums stay
numeric(?, 6), whose text is str() of the interpreter's Decimal sums (which start at Decimal(0): the same
exponent) as long as those are exact, that is below 10**21 (`too_large`); beyond, or over `max_usage_rows`, the
field is MISSING and the interpreter words its error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from graphql import FieldNode
from sqlalchemy import ColumnElement, Numeric, case, cast, false, func, literal_column, or_, select, union_all
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.types import Integer, Text

from resolvers.compiled import sql_text
from resolvers.compiled.errors import NotCompilable
from resolvers.usage import sums
from resolvers.usage.statements import Statement

if TYPE_CHECKING:
    from resolvers.compiled.planner import Builder

# The key of an aggregate row (sums.Key) by its labels, in the order the interpreter sorts rows by.
KEY_LABELS = (*sums.KEY_LABELS, "currency")
# The interpreter adds sums as Decimals of 28 digits; with 6 decimal places every partial sum stays exact below this.
EXACT_SUMS_BELOW = literal_column("1000000000000000000000", Numeric())
ZERO = literal_column("0", Integer())  # written into the statement: a bound 0 would need a value at every execution
# (builder, rows, the attribution's field nodes) -> its JSON.
Attribution = Callable[[Any, Any, Sequence[FieldNode]], ColumnElement[Any]]


def union(builder: Builder, statements: Sequence[Statement]) -> Any:
    both = union_all(*statements) if len(statements) > 1 else statements[0]
    return both.subquery(f"u{next(builder.names)}")


def keys(rows: Any) -> list[Any]:
    return [rows.c[label] for label in KEY_LABELS if label in rows.c]


def too_large(rows: Any) -> ColumnElement[bool]:
    """Some partial sum of this group could leave the interpreter's exact Decimal range."""
    return or_(
        func.sum(func.abs(rows.c.quantity)) >= EXACT_SUMS_BELOW, func.sum(func.abs(rows.c.amount)) >= EXACT_SUMS_BELOW
    )


def plain_sums(builder: Builder, sums: Sequence[Statement]) -> Any:
    rows = union(builder, sums)
    record_count = func.sum(rows.c.record_count)
    return (
        select(
            *keys(rows),
            func.sum(rows.c.quantity).label("quantity"),
            func.sum(rows.c.amount).label("amount"),
            record_count.label("record_count"),
            too_large(rows).label("too_large"),
        )
        .group_by(*keys(rows))
        .having(record_count != ZERO)
        .subquery(f"g{next(builder.names)}")
    )


def rows_json(
    builder: Builder, rows: Any, nodes: Sequence[FieldNode], attribution: Attribution | None
) -> ColumnElement[Any]:
    """The rows as UsageAggregate objects in the interpreter's order, or MISSING where it answers an error.
    `attribution`: how a partner-scoped row's attribution is written (None: the rows have none)."""
    null: ColumnElement[Any] = literal_column("NULL")
    pairs: list[ColumnElement[Any]] = []
    for key, field_nodes in builder.selections.under("UsageAggregate", nodes).items():
        name = field_nodes[0].name.value
        if any(node.arguments for node in field_nodes):
            raise NotCompilable(f"arguments of UsageAggregate.{name}")
        label = _SCALARS.get(name)
        if label is not None:
            value = rows.c.get(label, null)
            if label in ("month", "day") and label in rows.c:
                value = func.to_char(value, sql_text.const("YYYY-MM-DD"))
            elif label in ("quantity", "amount"):
                value = cast(value, Text)
        elif name in _RELATED:
            label, type_name = _RELATED[name]
            value = builder.by_id(type_name, rows.c[label], field_nodes) if label in rows.c else null
        elif name == "attribution":
            value = null if attribution is None else attribution(builder, rows, field_nodes)
        elif name == "__typename":
            value = sql_text.const("UsageAggregate")
        else:
            raise NotCompilable(f"UsageAggregate.{name}")
        pairs += [sql_text.const(key), value]
    order = [_sorted(column) for column in keys(rows)]
    listed = func.coalesce(func.json_agg(aggregate_order_by(func.json_build_object(*pairs), *order)), _EMPTY)
    assert builder.max_usage_rows is not None
    bound = literal_column(str(builder.max_usage_rows), Integer())
    refused = or_(func.count() > bound, func.coalesce(func.bool_or(rows.c.too_large), false()))
    return select(case((refused, sql_text.MISSING_SQL), else_=listed)).select_from(rows).scalar_subquery()


def _sorted(column: Any) -> Any:
    """sums._sort_key: by each part's text. Dates and ids sort as their text does; the rest (service, association
    type, currency) by code point, which the C collation's byte order of UTF-8 is."""
    if column.key in ("month", "day", "subscription_id", "tenant_id", "partner_id"):
        return column
    if column.key == "recognition_role":  # none named sorts first, as its "" does
        return func.coalesce(cast(column, Text), sql_text.const("")).collate("C")
    return cast(column, Text).collate("C")


_EMPTY: ColumnElement[Any] = literal_column("'[]'::json")
# UsageAggregate's objects (schema/usage.py): the row's key, loaded by id (null when not grouped by it, or hidden).
_RELATED = {
    "subscription": ("subscription_id", "Subscription"),
    "tenant": ("tenant_id", "Tenant"),
    "partner": ("partner_id", "Partner"),
}
_SCALARS = {
    "month": "month",
    "day": "day",
    "service": "service",
    "associationType": "association_type",
    # A key only with RECOGNITION_ROLE grouping: null on every row without it, as the interpreter's rows.
    "recognitionRole": "recognition_role",
    "currency": "currency",
    "quantity": "quantity",
    "amount": "amount",
    "recordCount": "record_count",
}
