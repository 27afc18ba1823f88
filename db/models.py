"""Every model, imported in one place so `Base.metadata` is complete (Alembic and tests read it from here)."""

from db.association import PartnerAssociation
from db.audit import AuditEvent
from db.base import Base
from db.change_event import ChangeEvent, ChangeEventSequencer
from db.delegation import DelegatedAdminRelationship
from db.dpor_invitation import DporInvitation
from db.idempotency import IdempotencyRecord
from db.partner import Partner
from db.rollup import UsageDailyRollup, UsageMonthlyRollup
from db.subscription import Subscription
from db.tenant import Tenant, TenantContact
from db.usage import UsageRecord
from db.webhook import WebhookDelivery, WebhookEndpoint

__all__ = [
    "AuditEvent",
    "Base",
    "ChangeEvent",
    "ChangeEventSequencer",
    "DelegatedAdminRelationship",
    "DporInvitation",
    "IdempotencyRecord",
    "Partner",
    "PartnerAssociation",
    "Subscription",
    "Tenant",
    "TenantContact",
    "UsageDailyRollup",
    "UsageMonthlyRollup",
    "UsageRecord",
    "WebhookDelivery",
    "WebhookEndpoint",
]
