"""The filter of a usage aggregate as SQL, in one place: every statement of a read takes its WHERE from here.

Values are bind parameters with fixed names (`parameters` gives them for a filter), so a statement depends only
on its `ReadShape` (which filters are set, not their values) and is built once per shape (statements.py). The
caller's usage filter (auth.row_filters.usage_predicate) is added to every statement here too, with its own
parameters (`UsageVisibility.parameters`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, literal_column, or_, select

from auth.row_filters import Shape, association_side, rollup_side, usage_predicate
from db.enums import AssociationStatus
from db.models import PartnerAssociation, Subscription
from resolvers.queries import among_ids
from resolvers.usage.aggregate_types import AggregateFilter, GroupBy
from resolvers.usage.attribution import day_start

ASSOCIATIONS: Table = PartnerAssociation.__table__  # type: ignore[assignment]
# Written into the statement, not bound: a constant of every partner-scoped read's shape (the compiled path and the
# benchmark floor take these statements as they are).
ATTRIBUTED_STATUS: ColumnElement[str] = literal_column(f"'{AssociationStatus.ACTIVE.value}'")
SUBSCRIPTIONS: Table = Subscription.__table__  # type: ignore[assignment]

# The filter's optional fields, each bound under its own name when set.
_FIELDS = (
    "subscription_id",
    "subscription_ids",
    "tenant_id",
    "tenant_ids",
    "service",
    "partner_id",
    "partner_ids",
    "association_type",
)
WINDOW = "window"  # the window's days, bound as window_first and window_last (see days)
_OPENS, _CLOSES = "window_opens", "window_closes"  # its first instant, and the first instant after it


@dataclass(frozen=True, slots=True)
class ReadShape:
    """What the SQL of a usage read depends on: the dialect, the groups, which filters are set (never their values)
    and the shape of the caller's usage filter."""

    dialect: str
    groups: frozenset[GroupBy]
    filters: frozenset[str]
    reach: Shape


def set_fields(filter: AggregateFilter) -> frozenset[str]:
    return frozenset(name for name in _FIELDS if getattr(filter, name) is not None)


def parameters(filter: AggregateFilter) -> dict[str, Any]:
    """The values of the filter's bind parameters (sets of ids as sorted lists: one array or IN list each)."""
    values: dict[str, Any] = {
        f"{WINDOW}_first": filter.date_from,
        f"{WINDOW}_last": filter.date_to,
        _OPENS: day_start(filter.date_from),
        _CLOSES: day_start(filter.date_to + timedelta(days=1)),
    }
    for name in _FIELDS:
        value = getattr(filter, name)
        if value is not None:
            values[name] = sorted(value) if isinstance(value, frozenset) else value
    return values


def day_range(name: str, first: Any, last: Any) -> Mapping[str, Any]:
    """The parameters of the range of days `days(column, name)` reads."""
    return {f"{name}_first": first, f"{name}_last": last}


def days(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """`column` between the days bound as {name}_first and {name}_last (both inclusive)."""
    return column.between(bindparam(f"{name}_first"), bindparam(f"{name}_last"))


def conditions(shape: ReadShape, rollup: Table, *, joined: bool) -> list[ColumnElement[bool]]:
    """The WHERE of a statement reading `rollup` (the daily or monthly rollup table): the filter's conditions on it
    and the caller's usage filter. `joined`: it is joined to the associations a partner-scoped read attributes, whose
    own conditions (`association_conditions`) are where those are read (statements.association_spans)."""
    found = _subscription_conditions(shape, rollup)
    if "service" in shape.filters:
        found.append(rollup.c.service_name == bindparam("service"))
    if joined:
        return [*found, rollup_side(shape.reach, rollup)]
    return [*found, usage_predicate(shape.reach, rollup, joined=False)]


def association_conditions(shape: ReadShape) -> list[ColumnElement[bool]]:
    """Which associations a partner-scoped read attributes: the ACTIVE ones overlapping the window, the filter's
    conditions on them, and the associations' side of the caller's usage filter."""
    found = [
        # Only associations in effect are attributed: a claim while PENDING is not (yet), a DECLINED one never.
        ASSOCIATIONS.c.status == ATTRIBUTED_STATUS,
        ASSOCIATIONS.c.valid_from < bindparam(_CLOSES),
        or_(ASSOCIATIONS.c.valid_to.is_(None), ASSOCIATIONS.c.valid_to > bindparam(_OPENS)),
    ]
    if "partner_id" in shape.filters:
        found.append(ASSOCIATIONS.c.partner_id == bindparam("partner_id"))
    if "partner_ids" in shape.filters:
        found.append(among_ids(ASSOCIATIONS.c.partner_id, shape.dialect, "partner_ids"))
    if "association_type" in shape.filters:
        found.append(ASSOCIATIONS.c.type == bindparam("association_type"))
    found += _subscription_conditions(shape, ASSOCIATIONS)
    return [*found, association_side(shape.reach)]


def _subscription_conditions(shape: ReadShape, table: Table) -> list[ColumnElement[bool]]:
    """The filter's subscription and tenant conditions on `table` (a rollup or the associations)."""
    found: list[ColumnElement[bool]] = []
    if "subscription_id" in shape.filters:
        found.append(table.c.subscription_id == bindparam("subscription_id"))
    if "subscription_ids" in shape.filters:
        found.append(among_ids(table.c.subscription_id, shape.dialect, "subscription_ids"))
    if "tenant_id" in shape.filters:
        owned = select(SUBSCRIPTIONS.c.id).where(SUBSCRIPTIONS.c.tenant_id == bindparam("tenant_id"))
        found.append(table.c.subscription_id.in_(owned))
    if "tenant_ids" in shape.filters:
        owned = select(SUBSCRIPTIONS.c.id).where(among_ids(SUBSCRIPTIONS.c.tenant_id, shape.dialect, "tenant_ids"))
        found.append(table.c.subscription_id.in_(owned))
    return found
