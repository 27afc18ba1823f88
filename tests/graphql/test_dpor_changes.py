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
from tests.resilience_support import check_invariants

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


# Bulk changes racing single ones (issue 14) --------------------------------------------------------------------

BULK_SET_DPOR = """
mutation($input: BulkSetDigitalPartnerOfRecordInput!) {
  bulkSetDigitalPartnerOfRecord(input: $input) { changes { changed subscription { id version } } }
}
"""
BULK_REMOVE_DPOR = """
mutation($input: BulkRemoveDigitalPartnerOfRecordInput!) {
  bulkRemoveDigitalPartnerOfRecord(input: $input) { changes { changed subscription { id version } } }
}
"""
REMOVE_DPOR = """
mutation($input: RemoveDigitalPartnerOfRecordInput!) {
  removeDigitalPartnerOfRecord(input: $input) { changed subscription { version } }
}
"""


CREATE_INVITATION = """mutation($input: CreateDporInvitationInput!) { createDporInvitation(input: $input) { code } }"""
ACCEPT_INVITATION = """mutation($input: AcceptDporInvitationInput!) { acceptDporInvitation(input: $input) {
  changes { changed subscription { version } } } }"""


def _version_conflict(body: dict[str, Any]) -> bool:
    """A CONFLICT on expectedVersion (for a batch: every failing item's), never a race lost at the database: a
    deadlock or a unique index violation would also be CONFLICT, but without `currentVersion`."""
    if error_codes(body) != ["CONFLICT"]:
        return False
    extensions = body["errors"][0]["extensions"]
    problems = extensions.get("problems", [extensions])
    return all(problem.get("code", "CONFLICT") == "CONFLICT" and "currentVersion" in problem for problem in problems)


async def test_bulk_changes_and_acceptances_racing_single_ones_lose_nothing_and_never_double_a_dpor(
    api: Api, database: Database
) -> None:
    """Bulk sets and removes over random subsets (in random order) and DPOR invitation acceptances race single sets
    and removes on the same subscriptions, every writer with the versions read at the start of its round: each
    answer is a success or a version CONFLICT (no deadlock: every writer locks subscriptions in id order), at most
    one writer changes a subscription per round, and afterwards every change is in the history, the audit log and
    the version."""
    postgres = database.dialect == "postgresql"
    bulk_writers, accept_writers, single_writers, rounds = (6, 6, 12, 12) if postgres else (2, 2, 3, 4)
    tenant, pool = factories.tenant(), [factories.partner() for _ in range(4)]
    async with database.write() as session:
        await factories.add_flushed(session, tenant, *pool)
        subs = [factories.subscription(tenant) for _ in range(6)]
        await factories.add_flushed(session, *subs)
    owners = [
        principal(Role.OWNER, tenant=tenant.external_id, subject=f"owner-{n}")
        for n in range(bulk_writers + accept_writers + single_writers)
    ]
    codes = [  # one invitation per partner of the pool, redeemable without limit
        (await api.data(CREATE_INVITATION, {"input": {}}, as_=principal(Role.PARTNER, partner=p.mpn_id)))[
            "createDporInvitation"
        ]["code"]
        for p in pool
    ]
    randomness = random.Random(14)
    changed_by_response: dict[Any, int] = {sub.id: 0 for sub in subs}
    outcomes = dict.fromkeys(("ok", "conflict", "acceptance ok", "acceptance conflict"), 0)
    for _ in range(rounds):
        async with database.read() as session:
            versions = {row[0]: row[1] for row in await session.execute(select(Subscription.id, Subscription.version))}
        requests: list[tuple[str, dict[str, Any], list[Any]]] = []
        for _ in range(bulk_writers):
            chosen = randomness.sample(subs, randomness.randint(2, len(subs)))
            items = [
                {"subscriptionId": global_id.encode("Subscription", s.id), "expectedVersion": versions[s.id]}
                for s in chosen
            ]
            if randomness.random() < 0.7:
                partner = global_id.encode("Partner", randomness.choice(pool).id)
                requests.append((BULK_SET_DPOR, {"input": {"partnerId": partner, "subscriptions": items}}, chosen))
            else:
                requests.append((BULK_REMOVE_DPOR, {"input": {"subscriptions": items}}, chosen))
        for _ in range(accept_writers):
            chosen = randomness.sample(subs, randomness.randint(1, len(subs)))
            items = [
                {"subscriptionId": global_id.encode("Subscription", s.id), "expectedVersion": versions[s.id]}
                for s in chosen
            ]
            accept = {"input": {"code": randomness.choice(codes), "subscriptions": items}}
            requests.append((ACCEPT_INVITATION, accept, chosen))
        for _ in range(single_writers):
            sub = randomness.choice(subs)
            if randomness.random() < 0.7:
                requests.append((SET_DPOR, _set(sub, randomness.choice(pool), versions[sub.id]), [sub]))
            else:
                remove = {
                    "subscriptionId": global_id.encode("Subscription", sub.id),
                    "expectedVersion": versions[sub.id],
                }
                requests.append((REMOVE_DPOR, {"input": remove}, [sub]))
        randomness.shuffle(requests)
        bodies = await asyncio.gather(
            *(
                api.execute(document, variables, as_=owner)
                for owner, (document, variables, _) in zip(owners, requests, strict=True)
            )
        )
        changed_this_round: dict[Any, int] = {sub.id: 0 for sub in subs}
        for body, (document, _, chosen) in zip(bodies, requests, strict=True):
            kind = "acceptance " if document is ACCEPT_INVITATION else ""
            if "errors" in body:
                assert _version_conflict(body), body
                outcomes[kind + "conflict"] += 1
                continue
            outcomes[kind + "ok"] += 1
            (result,) = body["data"].values()
            changes = result.get("changes", [result])
            for sub, change in zip(chosen, changes, strict=True):
                if change["changed"]:
                    changed_this_round[sub.id] += 1
                    assert change["subscription"]["version"] == versions[sub.id] + 1, body
        assert max(changed_this_round.values()) <= 1, changed_this_round  # one winner per subscription and round
        for sub_id, count in changed_this_round.items():
            changed_by_response[sub_id] += count

    # No lost update: every change a response reported is in the version and the audit log, and nothing else is.
    report = await check_invariants(database, exact_versions=True)  # one active DPOR at most, chains, versions
    async with database.read() as session:
        versions = {row[0]: row[1] for row in await session.execute(select(Subscription.id, Subscription.version))}
    assert {sub_id: version - 1 for sub_id, version in versions.items()} == changed_by_response
    assert report.association_audit_events == sum(changed_by_response.values())
    # The race was real, for acceptances too.
    assert all(outcomes.values()), outcomes
