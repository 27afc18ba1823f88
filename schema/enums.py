"""GraphQL enums: the data model's own enum classes, registered with descriptions (one list of each)."""

from __future__ import annotations

import strawberry

from auth.principal import Role as RoleEnum
from db import enums

TenantStatus = strawberry.enum(enums.TenantStatus, description="Lifecycle status of a tenant.")
SubscriptionStatus = strawberry.enum(
    enums.SubscriptionStatus,
    description="Lifecycle status of a subscription. DELETED ends its partner associations.",
)
Offer = strawberry.enum(enums.Offer, description="The cloud offer a subscription is for.")
AssociationType = strawberry.enum(
    enums.AssociationType,
    description=(
        "How a partner contributes to a subscription. DIGITAL_PARTNER_OF_RECORD (at most one active per subscription)"
        " gives support and lifecycle services; the others record sell-and-deploy and manage-and-use contributions."
    ),
)
AssociationEndReason = strawberry.enum(enums.AssociationEndReason, description="Why a partner association ended.")
DelegationStatus = strawberry.enum(enums.DelegationStatus, description="Status of a delegated admin relationship.")
Role = strawberry.enum(RoleEnum, description="A role granted by the caller's token scopes.")
