"""The most rows a usage aggregate field can return, priced by the cost check (schema/extensions/cost.py).

Usage aggregates (a list field with a `groupBy` argument: `usageAggregates`, `Subscription.usage`,
`Tenant.usage`, `Partner.attributedUsage`) count the rows they can return (issue 11): the product over the
grouping keys of each key's groups in the window. DAY counts the window's days and MONTH its months; SUBSCRIPTION,
TENANT, PARTNER and SERVICE count one group when the filter or the parent pins them (a subscriptionId pins its
tenant too; `Subscription.usage` pins both) and `usage_group_size` groups otherwise; RECOGNITION_ROLE counts its
two roles and none; partner-scoped rows (PARTNER or RECOGNITION_ROLE grouping, a partnerId filter,
`attributedUsage`) are split by association type unless one is given. A bound over `max_usage_rows` is
TOO_MANY_USAGE_ROWS, before any SQL runs; rows beyond the estimate's assumptions (more groups
than `usage_group_size`) are refused by the resolvers with the same code (schema/usage.py). Rows of several
currencies, and a partner caller's rows split by association type in `usageAggregates`, are not multiplied in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from graphql import GraphQLField, GraphQLList, GraphQLNonNull

from db.enums import AssociationType, RecognitionRole


def is_list(field: GraphQLField) -> bool:
    type_ = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    return isinstance(type_, GraphQLList)


def is_usage_aggregate(field: GraphQLField) -> bool:
    return "groupBy" in field.args and is_list(field)


@dataclass(frozen=True)
class UsageBounds:
    """How usage aggregates are priced and capped (settings `usage_group_size` and `max_usage_rows`)."""

    group_size: int = 20
    max_rows: int = 10_000


# The grouping keys a parent pins: its own usage has one subscription (and tenant), one tenant, one partner.
_PINNED_BY_PARENT = {"Subscription": {"SUBSCRIPTION", "TENANT"}, "Tenant": {"TENANT"}, "Partner": {"PARTNER"}}
_PINNED_BY_FILTER = {
    "subscriptionId": {"SUBSCRIPTION", "TENANT"},
    "tenantId": {"TENANT"},
    "partnerId": {"PARTNER"},
    "service": {"SERVICE"},
}


def _months(first: date, last: date) -> int:
    return (last.year * 12 + last.month) - (first.year * 12 + first.month) + 1


def usage_rows(arguments: Mapping[str, Any], parent: str, group_size: int) -> int:
    """The most rows a usage aggregate field can return with these (coerced) arguments on a `parent` object."""
    given = arguments.get("filter") or arguments
    first, last = given.get("from"), given.get("to")
    days = (last - first).days + 1 if isinstance(first, date) and isinstance(last, date) else 1
    if days < 1:
        return 1  # an inverted window is refused by the resolver (BAD_USER_INPUT) before any SQL
    pinned = set(_PINNED_BY_PARENT.get(parent, set()))
    for name, keys in _PINNED_BY_FILTER.items():
        if given.get(name) is not None:
            pinned |= keys
    rows = 1
    keys = {getattr(key, "value", key) for key in arguments.get("groupBy") or []}
    for key in keys:
        if key == "DAY":
            rows *= days
        elif key == "MONTH":
            rows *= _months(first, last) if isinstance(first, date) and isinstance(last, date) else 1
        elif key == "RECOGNITION_ROLE":
            rows *= len(RecognitionRole) + 1  # and the associations that name none
        elif key not in pinned:
            rows *= group_size
    partner_scoped = bool({"PARTNER", "RECOGNITION_ROLE"} & keys) or "PARTNER" in pinned
    if partner_scoped and given.get("associationType") is None and arguments.get("associationType") is None:
        rows *= len(AssociationType)
    return rows
