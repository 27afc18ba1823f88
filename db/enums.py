"""Enumerations of the data model. The GraphQL enums are these same classes, so there is one list of each."""

from __future__ import annotations

import enum


class TenantStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    DELETED = "DELETED"


class SubscriptionStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    DELETED = "DELETED"


class Offer(enum.Enum):
    AZURE = "AZURE"
    MICROSOFT_365 = "MICROSOFT_365"
    INTUNE = "INTUNE"
    ENTERPRISE_MOBILITY_SUITE = "ENTERPRISE_MOBILITY_SUITE"
    DYNAMICS_365 = "DYNAMICS_365"


class AssociationType(enum.Enum):
    DIGITAL_PARTNER_OF_RECORD = "DIGITAL_PARTNER_OF_RECORD"
    TRANSACTING_PARTNER = "TRANSACTING_PARTNER"
    PARTNER_ADMIN_LINK = "PARTNER_ADMIN_LINK"
    CLAIMING_PARTNER_OF_RECORD = "CLAIMING_PARTNER_OF_RECORD"


class AssociationEndReason(enum.Enum):
    REPLACED = "REPLACED"
    REMOVED_BY_OWNER = "REMOVED_BY_OWNER"
    UNLINKED = "UNLINKED"
    SUBSCRIPTION_DELETED = "SUBSCRIPTION_DELETED"
    # Written before revision 0004 when a delegated admin relationship ended; kept for those rows (history is never
    # rewritten). An admin link now ends with ROLE_REVOKED.
    DELEGATION_ENDED = "DELEGATION_ENDED"
    # A partner admin link whose delegated admin relationship ended or expired: it ends at that same instant.
    ROLE_REVOKED = "ROLE_REVOKED"
    # A claim the customer's owner declined within its decline window: never attributed.
    CUSTOMER_DECLINED = "CUSTOMER_DECLINED"


class AssociationStatus(enum.Enum):
    """Whether an association is attributed over its interval (resolvers/claims.py: how a claim moves)."""

    # A claim inside its decline window: not attributed (yet).
    PENDING = "PENDING"
    # In effect over [valid_from, valid_to): every association that is not a claim, and a claim whose window passed
    # undeclined (attributed from its claim time).
    ACTIVE = "ACTIVE"
    # A claim the customer declined: never attributed.
    DECLINED = "DECLINED"


class RecognitionRole(enum.Enum):
    """How a partner is recognised for a subscription beside the association type (multi-partner recognition)."""

    SELL_AND_DEPLOY = "SELL_AND_DEPLOY"
    MANAGE_AND_USE = "MANAGE_AND_USE"


class DelegationStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    ENDED = "ENDED"
