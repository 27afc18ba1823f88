"""The demo dataset's rows, table by table: demo_data.py's story as rows, ids derived from names.

Internal row ids are uuid5 of a name in NAMESPACE (`demo_id("tenant", key)`), so they are the same on every
machine and a row can name another (a subscription its tenant) without looking it up. Instants are placed
relative to the first day of the usage window (`At.on(first_day)`). The audit events those histories would
have left are demo_audit.py's.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Iterator
from datetime import date

from db.enums import DelegationStatus, SubscriptionStatus, TenantStatus
from gateway.seed.bulk import Fragment, Row
from gateway.seed.catalog import COUNTRY_CURRENCY, METERS
from gateway.seed.demo_data import DELEGATIONS, PARTNERS, SUBSCRIPTIONS, TENANTS
from gateway.seed.demo_model import At, DemoSubscription
from gateway.seed.rows import Removal, Stint, dpor_history, version_after
from gateway.seed.usage import UsageRows

# Internal row ids are derived from names in this namespace, so they too are the same on every machine.
NAMESPACE = uuid.UUID("c8a4e0b2-6d1f-4f3a-8b7e-2a9c5d0e1f46")
USAGE_SEED = "demo"


def demo_id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "/".join(str(part) for part in parts))


def owner_subject(tenant_key: str) -> str:
    return f"demo-owner@{tenant_key}"


_TENANTS = {tenant.key: tenant for tenant in TENANTS}
_TENANT_CREATED = At(-1200, "09:00:00")
_PARTNER_CREATED = At(-1500, "09:00:00")
_SUBSCRIPTION_CREATED = At(-800, "12:00:00")


def tenant_rows(first_day: date) -> Iterator[Row]:
    created = _TENANT_CREATED.on(first_day)
    for t in TENANTS:
        yield (
            demo_id("tenant", t.key),
            t.external_id,
            t.name,
            t.domain,
            t.country,
            TenantStatus.ACTIVE,
            created,
            created,
        )


def contact_rows(first_day: date) -> Iterator[Row]:
    created = _TENANT_CREATED.on(first_day)
    for t in TENANTS:
        for name, email, phone in t.contacts:
            yield (demo_id("contact", email), demo_id("tenant", t.key), name, email, phone, created)


def partner_rows(first_day: date) -> Iterator[Row]:
    for mpn_id, name, country in PARTNERS:
        yield (demo_id("partner", mpn_id), mpn_id, name, country, _PARTNER_CREATED.on(first_day))


def delegation_rows(first_day: date) -> Iterator[Row]:
    for tenant, mpn_id, created, ended in DELEGATIONS:
        status = DelegationStatus.ACTIVE if ended is None else DelegationStatus.ENDED
        yield (
            demo_id("delegation", tenant, mpn_id),
            demo_id("tenant", tenant),
            demo_id("partner", mpn_id),
            status,
            created.on(first_day),
            None if ended is None else ended.on(first_day),
        )


def history(sub: DemoSubscription, first_day: date) -> tuple[list[Stint], Removal | None]:
    owner = owner_subject(sub.tenant)
    stints = [Stint(demo_id("partner", mpn_id), since.on(first_day), owner) for mpn_id, since in sub.dpor]
    removal = None if sub.removed is None else Removal(sub.removed.on(first_day), owner)
    return stints, removal


def subscription_rows(first_day: date, last_day: date) -> Iterator[Row]:
    for sub in SUBSCRIPTIONS:
        stints, removal = history(sub, first_day)
        yield (
            demo_id("subscription", sub.external_id),
            sub.external_id,
            demo_id("tenant", sub.tenant),
            sub.offer,
            sub.name,
            SubscriptionStatus.ACTIVE,
            _SUBSCRIPTION_CREATED.on(first_day),
            version_after(stints, removal),
            last_day,
        )


def association_rows(first_day: date) -> Iterator[Row]:
    for sub in SUBSCRIPTIONS:
        subscription_id = demo_id("subscription", sub.external_id)
        stints, removal = history(sub, first_day)
        yield from dpor_history(subscription_id, stints, removal, functools.partial(demo_id, "dpor", sub.external_id))
        owner = owner_subject(sub.tenant)
        for link in sub.links:
            ended_at, reason = (None, None) if link.ended is None else (link.ended[0].on(first_day), link.ended[1])
            yield (
                demo_id("link", sub.external_id, link.type.name, link.mpn_id),
                subscription_id,
                demo_id("partner", link.mpn_id),
                link.type,
                link.since.on(first_day),
                ended_at,
                owner,
                None if ended_at is None else owner,
                reason,
            )


def usage_rows(usage: UsageRows) -> Iterator[Fragment]:
    for sub in SUBSCRIPTIONS:
        rng = random.Random(f"{USAGE_SEED}/{sub.external_id}")
        currency = COUNTRY_CURRENCY[_TENANTS[sub.tenant].country]
        pools = [usage.pool(meter, sub.tier, currency) for meter in rng.sample(METERS[sub.offer], sub.meters)]
        yield from usage.rows(demo_id("subscription", sub.external_id), pools, usage.noise(rng, len(pools)))
