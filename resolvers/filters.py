"""Filter arguments turned into SQL conditions (the policy's predicate is added separately, always)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select

from db.association import PartnerAssociation
from db.enums import AssociationType
from db.partner import Partner
from db.subscription import Subscription
from db.tenant import Tenant


def _active_dpor_exists() -> ColumnElement[bool]:
    return exists().where(
        PartnerAssociation.subscription_id == Subscription.id,
        PartnerAssociation.type == AssociationType.DIGITAL_PARTNER_OF_RECORD,
        PartnerAssociation.valid_to.is_(None),
    )


def subscription_conditions(filters: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if (tenant_id := filters.get("tenant_id")) is not None:
        conditions.append(Subscription.tenant_id == tenant_id)
    if (offer := filters.get("offer")) is not None:
        conditions.append(Subscription.offer == offer)
    if (status := filters.get("status")) is not None:
        conditions.append(Subscription.status == status)
    if (has_dpor := filters.get("has_digital_partner_of_record")) is not None:
        conditions.append(_active_dpor_exists() if has_dpor else ~_active_dpor_exists())
    if (partner_id := filters.get("partner_id")) is not None:
        conditions.append(
            Subscription.id.in_(
                select(PartnerAssociation.subscription_id).where(PartnerAssociation.partner_id == partner_id)
            )
        )
    return conditions


def like_pattern(text: str) -> str:
    """The LIKE pattern of a search text: its wildcards taken literally, lower-cased (see `contains`)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains(column: Any, pattern: str | ColumnElement[str]) -> ColumnElement[bool]:
    """Case-insensitive substring match on both backends, for a `like_pattern` (or a parameter holding one)."""
    return func.lower(column).like(pattern, escape="\\")


def tenant_conditions(filters: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    search = filters.get("search")
    return tenant_conditions_for(
        like_pattern(search) if search else None, filters.get("country_code"), filters.get("status")
    )


def tenant_conditions_for(search_pattern: Any, country_code: Any, status: Any) -> list[ColumnElement[bool]]:
    """`tenant_conditions` for values as they are compared (each a value, or a bind parameter the compiled reads
    fill per request; None: not filtered)."""
    conditions: list[ColumnElement[bool]] = []
    # Display name only: the primary domain is not visible to every caller who can list tenants, so it must not be
    # searchable either (a search would reveal it one character at a time).
    if search_pattern is not None:
        conditions.append(contains(Tenant.display_name, search_pattern))
    if country_code is not None:
        conditions.append(Tenant.country_code == country_code)
    if status is not None:
        conditions.append(Tenant.status == status)
    return conditions


def partner_conditions(search: str | None) -> list[ColumnElement[bool]]:
    if not search:
        return []
    return partner_conditions_for(like_pattern(search), search)


def partner_conditions_for(search_pattern: Any, search: Any) -> list[ColumnElement[bool]]:
    """`partner_conditions` for values as they are compared: the name's pattern and the exact MPN id (each a value,
    or a bind parameter the compiled reads fill per request)."""
    return [or_(contains(Partner.name, search_pattern), Partner.mpn_id == search)]
