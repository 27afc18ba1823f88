"""The rows of each table of a synthetic dataset, generated lazily in the order the bulk writer inserts them.

Every generator derives what it needs again from (seed, index) (synthetic_draws.py) instead of reading an
earlier table back, so no table is held in memory, whatever the dataset's size.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import timedelta

from db.enums import DelegationStatus, SubscriptionStatus, TenantStatus
from gateway.seed.bulk import Fragment, Row
from gateway.seed.rows import dpor_history, version_after
from gateway.seed.synthetic_draws import (
    SyntheticSubscription,
    SyntheticTenant,
    derived_id,
    instant,
    partner_id,
    rng_of,
    subscription_of,
    tenant_of,
)
from gateway.seed.synthetic_names import (
    COMPANY_FORMS,
    COUNTRIES,
    COUNTRY_WEIGHTS,
    FIRST_NAMES,
    LAST_NAMES,
    NAME_STEMS,
    PARTNER_TRADES,
)
from gateway.seed.synthetic_spec import SyntheticSpec
from gateway.seed.usage import UsageRows

# Synthetic partners' MPN ids start here; the demo's are below it, so both datasets can share a database.
FIRST_MPN_ID = 5_000_000


def tenant_rows(spec: SyntheticSpec) -> Iterator[Row]:
    for i in range(spec.tenants):
        t = tenant_of(spec, i)
        status = TenantStatus.ACTIVE
        yield (t.id, t.external_id, t.display_name, t.domain, t.country, status, t.created_at, t.created_at)


def contact_rows(spec: SyntheticSpec) -> Iterator[Row]:
    for i in range(spec.tenants):
        t = tenant_of(spec, i)
        rng = rng_of(spec, "contacts", i)
        for n in range(rng.randint(1, 2)):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"{first}.{last}@{t.domain}".lower()
            phone = f"+1 555 01{rng.randrange(100):02d}" if rng.random() < 0.7 else None
            yield (derived_id(spec, "contact", i, n), t.id, f"{first} {last}", email, phone, t.created_at)


def partner_rows(spec: SyntheticSpec) -> Iterator[Row]:
    for k in range(spec.partners):
        rng = rng_of(spec, "partner", k)
        name = f"{rng.choice(NAME_STEMS)} {rng.choice(PARTNER_TRADES)} {rng.choice(COMPANY_FORMS)}"
        country = rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0]
        created_at = spec.window[0] - timedelta(days=rng.randint(500, 4000))
        yield (partner_id(spec, k), str(FIRST_MPN_ID + k), name, country, created_at)


def delegation_rows(spec: SyntheticSpec) -> Iterator[Row]:
    window_start, window_end = spec.window
    for i in range(spec.tenants):
        t = tenant_of(spec, i)
        rng = rng_of(spec, "delegation", i)
        if rng.random() < 0.3:
            created = instant(rng, t.created_at, window_start)
            partner = partner_id(spec, rng.randrange(spec.partners))
            if rng.random() < 0.25:
                ended = instant(rng, window_start, window_end)
                yield (derived_id(spec, "delegation", i), t.id, partner, DelegationStatus.ENDED, created, ended)
            else:
                yield (derived_id(spec, "delegation", i), t.id, partner, DelegationStatus.ACTIVE, created, None)


def subscriptions(spec: SyntheticSpec) -> Iterator[tuple[SyntheticTenant, SyntheticSubscription]]:
    for i in range(spec.tenants):
        tenant = tenant_of(spec, i)
        for j in range(spec.subscriptions_per_tenant):
            yield tenant, subscription_of(spec, tenant, i, j)


def subscription_rows(spec: SyntheticSpec) -> Iterator[Row]:
    for tenant, s in subscriptions(spec):
        version = version_after(s.stints, s.removal)
        status = SubscriptionStatus.ACTIVE
        yield (
            s.id,
            s.external_id,
            tenant.id,
            s.offer,
            s.display_name,
            status,
            s.created_at,
            version,
            spec.end_date,
        )


def association_rows(spec: SyntheticSpec) -> Iterator[Row]:
    for _, s in subscriptions(spec):
        yield from dpor_history(s.id, s.stints, s.removal, functools.partial(derived_id, spec, "dpor", s.id))
        yield from s.other_links


def usage_rows(spec: SyntheticSpec, usage: UsageRows) -> Iterator[Fragment]:
    for tenant, s in subscriptions(spec):
        pools = [usage.pool(meter, s.tier, tenant.currency) for meter in s.meters]
        noise = usage.noise(rng_of(spec, "usage", s.id), len(pools))
        yield from usage.rows(s.id, pools, noise)
