"""Row shapes shared by the demo and synthetic datasets, and the one rule for writing a DPOR history.

Seeded rows go through the bulk writer, not the ORM, so every NOT NULL column is listed here explicitly
(model defaults such as created_at are Python-side and do not apply to bulk inserts).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from db.enums import AssociationEndReason, AssociationType
from gateway.seed.bulk import Row

TENANT_COLUMNS = (
    "id",
    "external_id",
    "display_name",
    "primary_domain",
    "country_code",
    "status",
    "created_at",
    "updated_at",
)
CONTACT_COLUMNS = ("id", "tenant_id", "name", "email", "phone", "created_at")
PARTNER_COLUMNS = ("id", "mpn_id", "name", "country_code", "created_at")
SUBSCRIPTION_COLUMNS = (
    "id",
    "external_id",
    "tenant_id",
    "offer",
    "display_name",
    "status",
    "created_at",
    "version",
    "usage_data_as_of",
)
ASSOCIATION_COLUMNS = (
    "id",
    "subscription_id",
    "partner_id",
    "type",
    "valid_from",
    "valid_to",
    "created_by",
    "ended_by",
    "end_reason",
)
DELEGATION_COLUMNS = ("id", "tenant_id", "partner_id", "status", "created_at", "ended_at")
AUDIT_COLUMNS = (
    "id",
    "occurred_at",
    "request_id",
    "actor_subject",
    "actor_role",
    "actor_client_id",
    "action",
    "target_type",
    "target_id",
    "tenant_id",
    "subscription_id",
    "before",
    "after",
)


@dataclass(frozen=True, slots=True)
class Stint:
    """A partner's time as Digital Partner of Record, from `since` until the next stint (or the removal)."""

    partner_id: uuid.UUID
    since: datetime
    set_by: str


@dataclass(frozen=True, slots=True)
class Removal:
    at: datetime
    by: str


def dpor_history(
    subscription_id: uuid.UUID,
    stints: Sequence[Stint],
    removal: Removal | None,
    new_id: Callable[[int], uuid.UUID],
) -> list[Row]:
    """Association rows for a sequence of DPOR stints, as the mutations would have left them.

    Each stint but the last ends when the next begins, REPLACED by whoever set the next; the last is active,
    or ended REMOVED_BY_OWNER by `removal`. Intervals therefore never overlap and at most one row is active.
    """
    if removal is not None and not stints:
        raise ValueError("a removal needs a stint to remove")
    rows: list[Row] = []
    for n, stint in enumerate(stints):
        if n + 1 < len(stints):
            following = stints[n + 1]
            end: tuple[datetime | None, str | None, AssociationEndReason | None] = (
                following.since,
                following.set_by,
                AssociationEndReason.REPLACED,
            )
        elif removal is not None:
            end = (removal.at, removal.by, AssociationEndReason.REMOVED_BY_OWNER)
        else:
            end = (None, None, None)
        valid_to, ended_by, reason = end
        if valid_to is not None and valid_to <= stint.since:
            raise ValueError("DPOR stints must follow one another in time")
        rows.append(
            (
                new_id(n),
                subscription_id,
                stint.partner_id,
                AssociationType.DIGITAL_PARTNER_OF_RECORD,
                stint.since,
                valid_to,
                stint.set_by,
                ended_by,
                reason,
            )
        )
    return rows


def version_after(stints: Sequence[Stint], removal: Removal | None) -> int:
    """A subscription's version counts its partner-of-record changes: each set or replace, and a removal."""
    return 1 + len(stints) + (removal is not None)
