"""GraphQL enums: the data model's own enum classes, registered in place with descriptions (one list of each).

`strawberry.enum` annotates the class it is given and returns it, so importing these names gives the very classes
the models use: no conversion between a "GraphQL enum" and a "database enum" anywhere.
"""

from __future__ import annotations

import strawberry

from auth.principal import Role
from db.enums import (
    AssociationEndReason,
    AssociationStatus,
    AssociationType,
    DelegationStatus,
    Offer,
    RecognitionRole,
    SubscriptionStatus,
    TenantStatus,
)

strawberry.enum(TenantStatus, description="Lifecycle status of a tenant.")
strawberry.enum(SubscriptionStatus, description="Lifecycle status of a subscription. DELETED ends its associations.")
strawberry.enum(Offer, description="The cloud offer a subscription is for.")
strawberry.enum(
    AssociationType,
    description=(
        "How a partner contributes to a subscription. DIGITAL_PARTNER_OF_RECORD (at most one active per subscription)"
        " gives support and lifecycle services; the others record sell-and-deploy and manage-and-use contributions."
    ),
)
strawberry.enum(
    AssociationEndReason,
    description="Why a partner association ended. ROLE_REVOKED: a partner admin link whose delegated admin"
    " relationship ended or expired, at that instant; DELEGATION_ENDED: the same, on rows recorded before"
    " ROLE_REVOKED existed; CUSTOMER_DECLINED: a claim the tenant's owner declined (never attributed).",
)
strawberry.enum(DelegationStatus, description="Status of a delegated admin relationship.")
strawberry.enum(
    AssociationStatus,
    description="Whether an association is attributed: ACTIVE (in effect over its interval), PENDING (a claim inside"
    " its decline window, not attributed yet), DECLINED (a claim the owner declined, never attributed).",
)
strawberry.enum(
    RecognitionRole,
    description="How a partner is recognised for a subscription beside its association type (multi-partner"
    " recognition): SELL_AND_DEPLOY or MANAGE_AND_USE.",
)
strawberry.enum(Role, description="A role granted by the caller's token scopes.")

__all__ = [
    "AssociationEndReason",
    "AssociationStatus",
    "AssociationType",
    "DelegationStatus",
    "Offer",
    "RecognitionRole",
    "Role",
    "SubscriptionStatus",
    "TenantStatus",
]
