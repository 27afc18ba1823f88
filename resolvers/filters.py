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


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    # Case-insensitive substring match on both backends; LIKE wildcards in the search text are taken literally.
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"%{escaped}%", escape="\\")


def tenant_conditions(filters: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    # Display name only: the primary domain is not visible to every caller who can list tenants, so it must not be
    # searchable either (a search would reveal it one character at a time).
    if search := filters.get("search"):
        conditions.append(_contains(Tenant.display_name, search))
    if (country := filters.get("country_code")) is not None:
        conditions.append(Tenant.country_code == country)
    if (status := filters.get("status")) is not None:
        conditions.append(Tenant.status == status)
    return conditions


def partner_conditions(search: str | None) -> list[ColumnElement[bool]]:
    if not search:
        return []
    return [or_(_contains(Partner.name, search), Partner.mpn_id == search)]
