"""Each synthetic tenant and subscription as a pure function of (seed, index), with the history it has.

Tenant i, partner k and subscription (i, j) are drawn from their own random stream, seeded by a string (not
Python's hash), so any one of them can be derived again without the others, in any process: that is what lets
synthetic_rows.py generate each table in one streaming pass without keeping earlier tables in memory.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from db.enums import AssociationEndReason, AssociationType, Offer
from gateway.seed.bulk import Row
from gateway.seed.catalog import COUNTRY_CURRENCY, METERS, Meter
from gateway.seed.rows import Removal, Stint
from gateway.seed.synthetic_names import (
    COMPANY_FORMS,
    COUNTRIES,
    COUNTRY_WEIGHTS,
    NAME_STEMS,
    NAME_TRADES,
    OFFER_WEIGHTS,
)
from gateway.seed.synthetic_spec import SyntheticSpec

NAMESPACE = uuid.UUID("9b0d6c3e-51a7-4f2b-8e0c-7d4a2f6b1c95")


def derived_id(spec: SyntheticSpec, *parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "/".join(str(part) for part in (spec.seed, *parts)))


def rng_of(spec: SyntheticSpec, *parts: object) -> random.Random:
    # Seeding with a string hashes it (SHA-512), identically in every process: no PYTHONHASHSEED dependence.
    return random.Random("/".join(str(part) for part in (spec.seed, *parts)))


def instant(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A whole-second instant in [start, end)."""
    return start + timedelta(seconds=rng.randrange(int((end - start).total_seconds())))


@dataclass(frozen=True, slots=True)
class SyntheticTenant:
    id: uuid.UUID
    external_id: uuid.UUID
    display_name: str
    domain: str
    country: str
    currency: str
    created_at: datetime


def tenant_of(spec: SyntheticSpec, i: int) -> SyntheticTenant:
    rng = rng_of(spec, "tenant", i)
    stem, trade = rng.choice(NAME_STEMS), rng.choice(NAME_TRADES)
    country = rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0]
    slug = f"{stem}{trade}".lower().replace(" ", "").replace("'", "")
    window_start, _ = spec.window
    return SyntheticTenant(
        id=derived_id(spec, "tenant", i),
        external_id=derived_id(spec, "tenant-external", i),
        display_name=f"{stem} {trade} {rng.choice(COMPANY_FORMS)}",
        domain=f"{slug}{i}.example.com",
        country=country,
        currency=COUNTRY_CURRENCY[country],
        created_at=window_start - timedelta(days=rng.randint(400, 3000), seconds=rng.randrange(86_400)),
    )


def partner_id(spec: SyntheticSpec, k: int) -> uuid.UUID:
    return derived_id(spec, "partner", k)


@dataclass(slots=True)
class SyntheticSubscription:
    id: uuid.UUID
    external_id: str
    offer: Offer
    display_name: str
    created_at: datetime
    stints: list[Stint] = field(default_factory=list)
    removal: Removal | None = None
    other_links: list[Row] = field(default_factory=list)
    meters: tuple[Meter, ...] = ()
    tier: int = 0


def subscription_of(spec: SyntheticSpec, tenant: SyntheticTenant, i: int, j: int) -> SyntheticSubscription:
    rng = rng_of(spec, "subscription", i, j)
    offer = rng.choices(tuple(OFFER_WEIGHTS), tuple(OFFER_WEIGHTS.values()))[0]
    window_start, window_end = spec.window
    created_at = instant(rng, tenant.created_at + timedelta(days=1), window_start)
    sub = SyntheticSubscription(
        id=derived_id(spec, "subscription", i, j),
        external_id=str(derived_id(spec, "subscription-external", i, j)),
        offer=offer,
        display_name=f"{tenant.display_name} {offer.name.replace('_', ' ').title()} {j + 1}",
        created_at=created_at,
        meters=tuple(rng.sample(METERS[offer], spec.meters_per_day)),
        tier=rng.choices((0, 1, 2), (6, 3, 1))[0],
    )
    owner = f"admin@{tenant.domain}"
    earlier = rng.choices((0, 1, 2), (5, 3, 2))[0]
    current = rng.random() < 0.8
    if earlier or current:
        # The first stint began before the window; each change inside it ends one stint at a whole second.
        # Distinct seconds, so consecutive stints never have an empty interval.
        seconds = range(int((window_end - window_start).total_seconds()))
        changes = [window_start + timedelta(seconds=s) for s in sorted(rng.sample(seconds, earlier))]
        starts = [instant(rng, created_at, window_start), *changes[: len(changes) - (not current)]]
        partner = -1
        for since in starts:
            partner = _other_partner(rng, spec.partners, partner)
            sub.stints.append(Stint(partner_id(spec, partner), since, owner))
        if not current:
            sub.removal = Removal(changes[-1], owner)
    sub.other_links = _other_links(spec, rng, sub, owner)
    return sub


def _other_partner(rng: random.Random, partners: int, previous: int) -> int:
    """A partner other than `previous` when there is one: a replacement by the same partner is no change."""
    if partners == 1:
        return 0
    choice = rng.randrange(partners - 1)
    return choice + 1 if choice >= previous >= 0 else choice


def _other_links(spec: SyntheticSpec, rng: random.Random, sub: SyntheticSubscription, owner: str) -> list[Row]:
    window_start, window_end = spec.window
    links: list[Row] = []
    for n, (kind, probability) in enumerate(
        (
            (AssociationType.TRANSACTING_PARTNER, 0.15),
            (AssociationType.PARTNER_ADMIN_LINK, 0.10),
            (AssociationType.CLAIMING_PARTNER_OF_RECORD, 0.05),
        )
    ):
        if rng.random() >= probability:
            continue
        since = instant(rng, sub.created_at, window_start)
        partner = partner_id(spec, rng.randrange(spec.partners))
        if kind is AssociationType.CLAIMING_PARTNER_OF_RECORD:
            # A claim that was looked at and unlinked: history, not a current association.
            ended = instant(rng, window_start, window_end)
            end: tuple[object, ...] = (ended, owner, AssociationEndReason.UNLINKED)
        else:
            end = (None, None, None)
        links.append((derived_id(spec, "link", sub.id, n), sub.id, partner, kind, since, end[0], owner, end[1], end[2]))
    return links
