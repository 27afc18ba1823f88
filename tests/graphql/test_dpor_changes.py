"""DPOR changes under retries, stale versions and many concurrent owners."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

from sqlalchemy import func, select

from auth.principal import Role
from db.association import PartnerAssociation
from db.audit import AuditEvent
from db.engine import Database
from db.enums import AssociationType
from db.subscription import Subscription
from schema import global_id
from tests import factories
from tests.api import Api, error_codes, principal

SET_DPOR = """
mutation($input: SetDigitalPartnerOfRecordInput!) {
  setDigitalPartnerOfRecord(input: $input) { changed subscription { version } association { id partner { mpnId } } }
}
"""


async def _subscription_with_partners(database: Database, partners: int) -> tuple[Any, Any, list[Any]]:
    tenant = factories.tenant()
    pool = [factories.partner() for _ in range(partners)]
    async with database.write() as session:
        await factories.add_flushed(session, tenant, *pool)
        sub = factories.subscription(tenant)
        await factories.add_flushed(session, sub)
    return tenant, sub, pool


def _set(sub: Any, partner: Any, version: int, key: str | None = None) -> dict[str, Any]:
    return {
        "input": {
            "subscriptionId": global_id.encode("Subscription", sub.id),
            "partnerId": global_id.encode("Partner", partner.id),
            "expectedVersion": version,
            "idempotencyKey": key,
        }
    }


async def _counts(database: Database, sub: Any) -> tuple[int, int, int, int]:
    async with database.read() as session:
        active = await session.scalar(
            select(func.count()).where(
                PartnerAssociation.subscription_id == sub.id,
                PartnerAssociation.type == AssociationType.DIGITAL_PARTNER_OF_RECORD,
                PartnerAssociation.valid_to.is_(None),
            )
        )
        rows = await session.scalar(select(func.count()).where(PartnerAssociation.subscription_id == sub.id))
        audits = await session.scalar(select(func.count()).where(AuditEvent.subscription_id == sub.id))
        version = await session.scalar(select(Subscription.version).where(Subscription.id == sub.id))
    return int(active or 0), int(rows or 0), int(audits or 0), int(version or 0)


async def test_stale_expected_version_is_conflict_and_writes_nothing(api: Api, database: Database) -> None:
    tenant, sub, (first, second) = await _subscription_with_partners(database, 2)
    owner = principal(Role.OWNER, tenant=tenant.external_id)
    await api.data(SET_DPOR, _set(sub, first, 1), as_=owner)

    body = await api.execute(SET_DPOR, _set(sub, second, 1), as_=owner)
    assert error_codes(body) == ["CONFLICT"]
    assert body["errors"][0]["extensions"]["currentVersion"] == 2
    assert await _counts(database, sub) == (1, 1, 1, 2)


async def test_naming_the_current_dpor_changes_nothing_and_says_so(api: Api, database: Database) -> None:
    tenant, sub, (first,) = await _subscription_with_partners(database, 1)
    owner = principal(Role.OWNER, tenant=tenant.external_id)
    await api.data(SET_DPOR, _set(sub, first, 1), as_=owner)
    again = (await api.data(SET_DPOR, _set(sub, first, 2), as_=owner))["setDigitalPartnerOfRecord"]
    assert again["changed"] is False
    assert again["subscription"]["version"] == 2
    assert await _counts(database, sub) == (1, 1, 1, 2)


async def test_a_stale_version_naming_the_current_dpor_is_still_conflict(api: Api, database: Database) -> None:
    """The schema promises CONFLICT on any expectedVersion mismatch, also when the request would change nothing."""
    tenant, sub, (first, second) = await _subscription_with_partners(database, 2)
    owner = principal(Role.OWNER, tenant=tenant.external_id)
    await api.data(SET_DPOR, _set(sub, first, 1), as_=owner)  # version 2
    await api.data(SET_DPOR, _set(sub, second, 2), as_=owner)  # version 3: `second` is the DPOR
    body = await api.execute(SET_DPOR, _set(sub, second, 2), as_=owner)
    assert error_codes(body) == ["CONFLICT"]
    assert body["errors"][0]["extensions"]["currentVersion"] == 3
    assert await _counts(database, sub) == (1, 2, 2, 3)


async def test_idempotency_key_replays_the_first_result(api: Api, database: Database) -> None:
    tenant, sub, (first, second) = await _subscription_with_partners(database, 2)
    owner = principal(Role.OWNER, tenant=tenant.external_id)
    original = await api.data(SET_DPOR, _set(sub, first, 1, key="retry-1"), as_=owner)
    replayed = await api.data(SET_DPOR, _set(sub, first, 1, key="retry-1"), as_=owner)
    assert replayed == original
    assert replayed["setDigitalPartnerOfRecord"]["changed"] is True
    assert await _counts(database, sub) == (1, 1, 1, 2)

    # The same key with another input is a conflict; another caller's identical key is its own.
    body = await api.execute(SET_DPOR, _set(sub, second, 2, key="retry-1"), as_=owner)
    assert error_codes(body) == ["CONFLICT"]
    other_owner = principal(Role.OWNER, tenant=tenant.external_id, subject="owner-bob")
    fresh = await api.data(SET_DPOR, _set(sub, second, 2, key="retry-1"), as_=other_owner)
    assert fresh["setDigitalPartnerOfRecord"]["association"]["partner"]["mpnId"] == second.mpn_id
    assert await _counts(database, sub) == (1, 2, 2, 3)


async def test_concurrent_retries_with_one_key_act_once(api: Api, database: Database) -> None:
    tenant, sub, (first,) = await _subscription_with_partners(database, 1)
    owner = principal(Role.OWNER, tenant=tenant.external_id)
    results = await asyncio.gather(*(api.data(SET_DPOR, _set(sub, first, 1, key="k"), as_=owner) for _ in range(6)))
    assert len({repr(result) for result in results}) == 1
    assert await _counts(database, sub) == (1, 1, 1, 2)


async def test_many_owners_at_once_exactly_one_wins_each_round(api: Api, database: Database) -> None:
    writers = 32 if database.dialect == "postgresql" else 8
    rounds = 15
    tenant, sub, pool = await _subscription_with_partners(database, 6)
    owners = [principal(Role.OWNER, tenant=tenant.external_id, subject=f"owner-{n}") for n in range(writers)]
    randomness = random.Random(7)
    wins = 0
    for _ in range(rounds):
        _, _, _, version = await _counts(database, sub)
        async with database.read() as session:
            current = await session.scalar(
                select(PartnerAssociation.partner_id).where(
                    PartnerAssociation.subscription_id == sub.id, PartnerAssociation.valid_to.is_(None)
                )
            )
        choices = [randomness.choice(pool) for _ in owners]
        bodies = await asyncio.gather(
            *(
                api.execute(SET_DPOR, _set(sub, choice, version), as_=owner)
                for owner, choice in zip(owners, choices, strict=True)
            )
        )
        outcomes = []
        for body, choice in zip(bodies, choices, strict=True):
            if "errors" in body:
                assert error_codes(body) == ["CONFLICT"], body
                outcomes.append("conflict")
            else:
                result = body["data"]["setDigitalPartnerOfRecord"]
                outcomes.append("won" if result["changed"] else "same")
                if not result["changed"]:
                    assert choice.id == current or result["association"]["partner"]["mpnId"] == choice.mpn_id
        round_wins = outcomes.count("won")
        assert round_wins <= 1, outcomes
        # Someone always gets through unless every writer named the partner that already was the DPOR.
        assert round_wins == 1 or all(choice.id == current for choice in choices), outcomes
        wins += round_wins

    active, rows, audits, version = await _counts(database, sub)
    assert active == 1
    assert rows == wins  # every change started exactly one row; none lost
    assert audits == wins
    assert version == 1 + wins
    async with database.read() as session:
        history = (
            await session.scalars(
                select(PartnerAssociation)
                .where(PartnerAssociation.subscription_id == sub.id)
                .order_by(PartnerAssociation.valid_from, PartnerAssociation.id)
            )
        ).all()
    # The history is a chain: each row ends exactly when the next starts.
    for earlier, later in itertools.pairwise(history):
        assert earlier.valid_to == later.valid_from
