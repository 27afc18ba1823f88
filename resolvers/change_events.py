"""Change events (issue 15): what a partner or a tenant is told of a change, derived from its audit event.

Every change worth telling is audited already, in its own transaction (resolvers/audit.py); the change event is
derived there, from the audit row, by the same function call that writes it (`audit.record`, and
`association_steps.record_changes` for a batch), so a mutation cannot write one without the other, and a rolled
back mutation writes neither. The outbox row is a sibling of the audit row (db/change_event.py), not the audit row
itself: audit events also record what nobody is told (provisioning, usage batches), carry the actor's subject (a
person), are kept forever and read by the tenant's admins; events carry a publication sequence and one copy per
audience, and a later retention may prune them once delivered. Mixing both would widen the audit table every
tenant read scans.

The event types are a closed list (EVENT_TYPES); the audit actions that make them are ACTION_EVENTS, and every
other mutation is listed in SILENT_ACTIONS (tests/service/test_change_events.py holds the two lists to the policy
table, so a new mutation must say which it is).

Audiences. The tenant's copy (to the tenant's own endpoints) is the audit event's content, the actor's subject
included, as the tenant's admins read it in `auditEvents`. A concerned partner's copy follows the partner read path
(auth/policy.py): no token subject (createdBy/endedBy are personal data: it gets the actor's role and client only),
no contacts, no tenant name, and of the association rows only those naming that partner (another partner's row in
it is null, or left out of a list). Partners concerned are those named by an association row of the change, or the
partner an invitation or delegated admin relationship belongs to. A DPOR invitation's acceptance or decline is told
to the tenant only: the README promises the partner learns what an acceptance gave it only through its attributed
view (it is told of each DPOR set, as of any), and that a decline is not told.

Closed periods: the gateway has no mutation that closes a period yet (issue 14's workflows add none); when one
comes, it gets its row here like any other action.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from db.base import new_id
from resolvers import global_id

# The closed list of event types, with what each means (the webhook API documents this list).
EVENT_TYPES: Mapping[str, str] = {
    "association.dpor_set": "A subscription got a Digital Partner of Record where it had none.",
    "association.dpor_replaced": "A subscription's Digital Partner of Record was replaced by another partner (both"
    " partners and the tenant are told).",
    "association.dpor_removed": "A subscription's Digital Partner of Record was removed.",
    "association.linked": "A partner association other than the DPOR (transacting partner, admin link) started.",
    "association.unlinked": "A partner association other than the DPOR was ended by hand.",
    "association.ended": "Associations ended because their subscription was deleted.",
    "claim.created": "A partner claimed partner of record on a subscription (PENDING, inside its decline window).",
    "claim.declined": "The tenant's owner declined a pending claim.",
    "claim.ripened": "A claim's decline window passed undeclined: it is ACTIVE, attributed from its claim time.",
    "delegation.created": "A delegated admin relationship started.",
    "delegation.ended": "A delegated admin relationship ended (by hand or at its expiry), with the partner's admin"
    " links on the tenant's subscriptions.",
    "invitation.created": "A partner created a DPOR invitation (told to that partner only).",
    "invitation.revoked": "A partner revoked a DPOR invitation (told to that partner only).",
    "invitation.accepted": "The tenant's owner accepted a DPOR invitation (told to the tenant; the partner is told"
    " of each DPOR set).",
    "invitation.declined": "The tenant's owner declined a DPOR invitation (told to the tenant only).",
}


@dataclass(frozen=True, slots=True)
class Rule:
    """How one audit action becomes events: its type (from the audit row), whether the tenant and the concerned
    partners are told, and the copy's before/after (the audit's by default)."""

    event_type: Callable[[Mapping[str, Any]], str | None]
    tenant_told: bool = True
    partners_told: bool = True
    content: Callable[[Mapping[str, Any]], tuple[Any, Any]] | None = None


def _fixed(name: str) -> Callable[[Mapping[str, Any]], str | None]:
    assert name in EVENT_TYPES, name
    return lambda _row: name


def _dpor_type(row: Mapping[str, Any]) -> str | None:
    before = (row["before"] or {}).get("digitalPartnerOfRecord")
    after = (row["after"] or {}).get("digitalPartnerOfRecord")
    if before is None and after is None:
        return None
    if before is None:
        return "association.dpor_set"
    return "association.dpor_removed" if after is None else "association.dpor_replaced"


def _deleted_type(row: Mapping[str, Any]) -> str | None:
    return "association.ended" if (row["after"] or {}).get("endedAssociationRows") else None


def _deleted_content(row: Mapping[str, Any]) -> tuple[Any, Any]:
    after = row["after"]
    return row["before"], {"status": after["status"], "associations": after["endedAssociationRows"]}


_DPOR = Rule(_dpor_type)
ACTION_EVENTS: Mapping[str, Rule] = {
    "setDigitalPartnerOfRecord": _DPOR,
    "removeDigitalPartnerOfRecord": _DPOR,
    "bulkSetDigitalPartnerOfRecord": _DPOR,
    "bulkRemoveDigitalPartnerOfRecord": _DPOR,
    "linkPartner": Rule(_fixed("association.linked")),
    "unlinkPartner": Rule(_fixed("association.unlinked")),
    "setSubscriptionStatus": Rule(_deleted_type, content=_deleted_content),
    "claimPartnerOfRecord": Rule(_fixed("claim.created")),
    "declineClaim": Rule(_fixed("claim.declined")),
    "claimRipened": Rule(_fixed("claim.ripened")),
    "createDelegatedAdminRelationship": Rule(_fixed("delegation.created")),
    "endDelegatedAdminRelationship": Rule(_fixed("delegation.ended")),
    "delegatedAdminRelationshipExpired": Rule(_fixed("delegation.ended")),
    "createDporInvitation": Rule(_fixed("invitation.created"), tenant_told=False),
    "revokeDporInvitation": Rule(_fixed("invitation.revoked"), tenant_told=False),
    "acceptDporInvitation": Rule(_fixed("invitation.accepted"), partners_told=False),
    "declineDporInvitation": Rule(_fixed("invitation.declined"), partners_told=False),
}

# Mutations whose audit events tell nobody anything through the outbox: provisioning of rows no partner
# relationship hangs on, usage batches, and the webhook endpoints themselves.
SILENT_ACTIONS: frozenset[str] = frozenset(
    {
        "createTenant",
        "updateTenant",
        "addTenantContact",
        "createPartner",
        "createSubscription",
        "ingestUsage",
        "createWebhookEndpoint",
        "updateWebhookEndpoint",
        "disableWebhookEndpoint",
        "rotateWebhookSecret",
        "deleteWebhookEndpoint",
        "redeliverWebhook",
    }
)


def _is_association(value: Any) -> bool:
    return isinstance(value, dict) and "associationId" in value and "partnerId" in value


def _partners_named(value: Any, found: set[str]) -> None:
    """Global ids of the partners an audit content names: its association rows' and a top-level `partnerId`."""
    if _is_association(value):
        found.add(value["partnerId"])
    elif isinstance(value, dict):
        if isinstance(value.get("partnerId"), str):  # an invitation's or a delegated admin relationship's
            found.add(value["partnerId"])
        for child in value.values():
            _partners_named(child, found)
    elif isinstance(value, list):
        for child in value:
            _partners_named(child, found)


def _for_partner(value: Any, partner: str) -> Any:
    """`value` with every association row not naming `partner` taken out (null in an object, dropped from a list)."""
    if _is_association(value):
        return value if value["partnerId"] == partner else None
    if isinstance(value, dict):
        return {key: _for_partner(child, partner) for key, child in value.items()}
    if isinstance(value, list):
        kept = [_for_partner(child, partner) for child in value]
        return [child for child, original in zip(kept, value, strict=True) if child is not None or original is None]
    return value


def derive(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The change event's columns for one audit row (audit.row's dict), or None when the action tells nobody."""
    rule = ACTION_EVENTS.get(row["action"])
    if rule is None:
        return None
    event_type = rule.event_type(row)
    if event_type is None:
        return None
    before, after = rule.content(row) if rule.content is not None else (row["before"], row["after"])
    event_id = new_id()
    tenant_id: uuid.UUID | None = row["tenant_id"]
    subscription_id: uuid.UUID | None = row["subscription_id"]
    common = {
        "eventId": str(event_id),
        "type": event_type,
        "occurredAt": row["occurred_at"].isoformat(),
        "tenantId": global_id.encode("Tenant", tenant_id) if tenant_id else None,
        "subscriptionId": global_id.encode("Subscription", subscription_id) if subscription_id else None,
    }
    actor = {"role": row["actor_role"], "clientId": row["actor_client_id"]}
    tenant_payload = None
    if rule.tenant_told and tenant_id is not None:
        tenant_payload = {
            **common,
            "actor": {**actor, "subject": row["actor_subject"]},
            "correlationId": row["correlation_id"],
            "before": before,
            "after": after,
        }
    partner_payloads: dict[str, Any] = {}
    if rule.partners_told:
        named: set[str] = set()
        _partners_named({"before": before, "after": after}, named)
        for partner in sorted(named):
            partner_id = global_id.decode(partner, "Partner", field="partnerId")
            partner_payloads[partner_id.hex] = {
                **common,
                "partnerId": partner,
                "actor": actor,
                "before": _for_partner(before, partner),
                "after": _for_partner(after, partner),
            }
    if tenant_payload is None and not partner_payloads:
        return None
    return {
        "id": event_id,
        "type": event_type,
        "occurred_at": row["occurred_at"],
        "audit_event_id": row["id"],
        "tenant_id": tenant_id,
        "subscription_id": subscription_id,
        "tenant_payload": tenant_payload,
        "partner_payloads": partner_payloads,
    }
