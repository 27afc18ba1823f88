"""The audit events the mutations behind the demo's histories would have written: one per DPOR change and
one per ended delegated admin relationship, by the tenant's owner.

Apart from demo_rows.py because it retells the same story (demo_data.py) as the API would have logged it, not
as rows of the tables the story is about.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from db.enums import DelegationStatus
from gateway.seed.bulk import Row
from gateway.seed.demo_data import DELEGATIONS, SUBSCRIPTIONS
from gateway.seed.demo_model import At
from gateway.seed.demo_rows import demo_id, owner_subject


def audit_rows(first_day: date) -> Iterator[Row]:
    """The events the mutations behind the histories above would have written."""
    for sub in SUBSCRIPTIONS:
        tenant_id, subscription_id = demo_id("tenant", sub.tenant), demo_id("subscription", sub.external_id)
        owner = owner_subject(sub.tenant)
        previous: str | None = None
        changes: list[tuple[str | None, At]] = [(mpn_id, since) for mpn_id, since in sub.dpor]
        if sub.removed is not None:
            changes.append((None, sub.removed))
        for version, (mpn_id, at) in enumerate(changes, start=1):
            action = "removeDigitalPartnerOfRecord" if mpn_id is None else "setDigitalPartnerOfRecord"
            yield (
                demo_id("audit", sub.external_id, version),
                at.on(first_day),
                str(demo_id("request", sub.external_id, version)),
                owner,
                "OWNER",
                None,
                action,
                "Subscription",
                sub.external_id,
                tenant_id,
                subscription_id,
                {"partnerMpnId": previous, "version": version},
                {"partnerMpnId": mpn_id, "version": version + 1},
            )
            previous = mpn_id
    for tenant, mpn_id, _created, ended in DELEGATIONS:
        if ended is None:
            continue
        yield (
            demo_id("audit", "delegation", tenant, mpn_id),
            ended.on(first_day),
            str(demo_id("request", "delegation", tenant, mpn_id)),
            owner_subject(tenant),
            "OWNER",
            None,
            "endDelegatedAdminRelationship",
            "DelegatedAdminRelationship",
            str(demo_id("delegation", tenant, mpn_id)),
            demo_id("tenant", tenant),
            None,
            {"status": DelegationStatus.ACTIVE.value, "partnerMpnId": mpn_id},
            {"status": DelegationStatus.ENDED.value, "partnerMpnId": mpn_id},
        )
