"""A bounded load run: mixed reads and DPOR writes (single, and bulk over several of a tenant's subscriptions) from
many concurrent callers for a fixed time, in process (httpx over ASGI, loopback only), on every backend.

It holds when no request gets a 5xx or an unexpected error, and afterwards the invariants are intact: one
active DPOR per subscription, each subscription's DPOR history a chain without gaps after replacements or
overlaps, its version 1 + its audited changes, and exactly one audit event per change the callers were told
succeeded. The figures (requests, errors by code, throughput) are printed; nothing asserts on speed.

Duration per backend: DPOR_TEST_LOAD_SECONDS (default 10; e.g. DPOR_TEST_LOAD_SECONDS=60 for a full minute).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from auth.principal import Principal, Role
from db.audit import AuditEvent
from db.engine import Database
from db.partner import Partner
from db.subscription import Subscription
from db.tenant import Tenant
from gateway.seed.demo import DEMO_PARTNER_MPN_ID, load_demo
from schema import global_id
from tests.api import Api, principal, token_for
from tests.resilience_support import check_invariants, gateway

SECONDS = float(os.environ.get("DPOR_TEST_LOAD_SECONDS", "10"))
WORKERS = 8
WRITE_SHARE = 0.3
# Of the writes, those that change several subscriptions of one tenant in one call (bulkSet/bulkRemove), and how
# many: each is all or nothing, and races the single changes on the same subscriptions.
BULK_SHARE = 0.2
BULK_SIZES = (2, 5)
# What a caller may get back under contention: a stale version, or a race lost at the database.
EXPECTED_CODES = frozenset({"CONFLICT"})

READS = {
    "subscriptions": "{ subscriptions(first: 20) { totalCount edges { node { id version"
    " digitalPartnerOfRecord { partner { mpnId } validFrom } } } } }",
    "tenants": "{ tenants(first: 10) { edges { node { displayName subscriptions(first: 5) { edges { node {"
    " partnerAssociations { type partner { name } } } } } } } } }",
    "history": "query($id: ID!) { subscription(id: $id) { version associationHistory(first: 10) {"
    " edges { node { validFrom validTo endReason partner { mpnId } } } } } }",
    "attributed": "{ attributedSubscriptions(first: 20) { totalCount edges { node { id }"
    " associations { validFrom } } } }",
    "audit": "{ auditEvents(first: 20) { edges { node { action occurredAt } } } }",
}
SET_DPOR = """mutation($input: SetDigitalPartnerOfRecordInput!) {
  setDigitalPartnerOfRecord(input: $input) { changed subscription { version } }
}"""
REMOVE_DPOR = """mutation($input: RemoveDigitalPartnerOfRecordInput!) {
  removeDigitalPartnerOfRecord(input: $input) { changed subscription { version } }
}"""
BULK_SET = """mutation($input: BulkSetDigitalPartnerOfRecordInput!) {
  bulkSetDigitalPartnerOfRecord(input: $input) { changes { changed subscription { version } } }
}"""
BULK_REMOVE = """mutation($input: BulkRemoveDigitalPartnerOfRecordInput!) {
  bulkRemoveDigitalPartnerOfRecord(input: $input) { changes { changed subscription { version } } }
}"""
CHANGES = ("setDigitalPartnerOfRecord", "removeDigitalPartnerOfRecord")
BULK_CHANGES = ("bulkSetDigitalPartnerOfRecord", "bulkRemoveDigitalPartnerOfRecord")


@dataclass
class Target:
    subscription_id: str
    owner: Principal
    version: int


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    unexpected: list[Any] = field(default_factory=list)
    changes: int = 0
    by_operation: Counter[str] = field(default_factory=Counter)


@dataclass
class World:
    targets: list[Target]
    partner_ids: list[str]
    readers: list[Principal]
    partner: Principal
    admin: Principal


async def load_world(database: Database) -> World:
    await load_demo(database)
    async with database.read() as session:
        subscriptions = (await session.execute(select(Subscription, Tenant.external_id).join(Tenant))).all()
        partners = (await session.scalars(select(Partner.id).order_by(Partner.mpn_id))).all()
    targets = [
        Target(global_id.encode("Subscription", sub.id), principal(Role.OWNER, tenant=tid), sub.version)
        for sub, tid in subscriptions
    ]
    partner, admin = principal(Role.PARTNER, partner=DEMO_PARTNER_MPN_ID), principal(Role.PLATFORM_ADMIN)
    readers = [target.owner for target in targets[::3]] + [partner, admin]
    return World(targets, [global_id.encode("Partner", p) for p in partners], readers, partner, admin)


_tokens: dict[tuple[Principal, str], str] = {}


def bearer(api: Api, caller: Principal) -> str:
    # One token per caller for the run, as a real client reuses its access token: minting (an RSA signature)
    # per request would measure the test, not the gateway.
    key = (caller, str(api.settings.var_dir))
    if key not in _tokens:
        _tokens[key] = token_for(api.settings, caller)
    return _tokens[key]


async def post(api: Api, tally: Tally, name: str, query: str, variables: dict[str, Any], as_: Principal) -> Any:
    return (await post_body(api, tally, name, query, variables, as_)).get("data")


async def post_body(
    api: Api, tally: Tally, name: str, query: str, variables: dict[str, Any], as_: Principal
) -> dict[str, Any]:
    response = await api.client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {bearer(api, as_)}"},
    )
    tally.requests += 1
    tally.by_operation[name] += 1
    tally.statuses[response.status_code] += 1
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        tally.codes[str(code)] += 1
        if code not in EXPECTED_CODES:
            tally.unexpected.append((name, variables, error))
    return body


async def worker(api: Api, world: World, tally: Tally, seed: int, deadline: float) -> None:
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        target = rng.choice(world.targets)
        if rng.random() < WRITE_SHARE * BULK_SHARE:
            await bulk_write(api, world, tally, rng, target.owner)
        elif rng.random() < WRITE_SHARE:
            remove = rng.random() < 0.15
            fields: dict[str, Any] = {"subscriptionId": target.subscription_id, "expectedVersion": target.version}
            if not remove:
                fields["partnerId"] = rng.choice(world.partner_ids)
            name = "removeDigitalPartnerOfRecord" if remove else "setDigitalPartnerOfRecord"
            data = await post(api, tally, name, REMOVE_DPOR if remove else SET_DPOR, {"input": fields}, target.owner)
            payload = (data or {}).get(name)
            if payload is not None:
                tally.changes += bool(payload["changed"])
                target.version = payload["subscription"]["version"]
            else:
                # A stale version (another worker changed it): read the current one, as a client would.
                history = await post(
                    api, tally, "history", READS["history"], {"id": target.subscription_id}, target.owner
                )
                target.version = history["subscription"]["version"]
        else:
            name = rng.choice(sorted(READS))
            variables = {"id": target.subscription_id} if name == "history" else {}
            # Each read as a caller allowed to make it: history and audit by owners and the platform admin,
            # attributed subscriptions by the partner, the lists by anyone.
            caller = {
                "history": target.owner,
                "audit": rng.choice([target.owner, world.admin]),
                "attributed": world.partner,
            }.get(name) or rng.choice(world.readers)
            await post(api, tally, name, READS[name], variables, caller)


async def bulk_write(api: Api, world: World, tally: Tally, rng: random.Random, owner: Principal) -> None:
    """A bulk set or remove over some of the owner's subscriptions at their known versions: every one changed
    (versions from the payload), or none (a CONFLICT lists each stale item with its current version)."""
    own = [target for target in world.targets if target.owner == owner]
    chosen = rng.sample(own, min(len(own), rng.randint(*BULK_SIZES)))
    remove = rng.random() < 0.3  # more than single removes: a run of seconds sees a few
    fields: dict[str, Any] = {
        "subscriptions": [{"subscriptionId": t.subscription_id, "expectedVersion": t.version} for t in chosen]
    }
    if not remove:
        fields["partnerId"] = rng.choice(world.partner_ids)
    name = BULK_CHANGES[remove]
    body = await post_body(api, tally, name, BULK_REMOVE if remove else BULK_SET, {"input": fields}, owner)
    payload = (body.get("data") or {}).get(name)
    if payload is not None:
        for target, change in zip(chosen, payload["changes"], strict=True):
            tally.changes += bool(change["changed"])
            target.version = change["subscription"]["version"]
        return
    # Refused as a whole: each stale item's current version, as a client would take it; the others did not move.
    for error in body.get("errors") or []:
        for problem in (error.get("extensions") or {}).get("problems") or []:
            if "currentVersion" in problem:
                chosen[problem["index"]].version = problem["currentVersion"]


async def audited_changes(database: Database) -> int:
    actions = (*CHANGES, *BULK_CHANGES)
    async with database.read() as session:
        count = await session.scalar(select(func.count()).where(AuditEvent.action.in_(actions)))
    return int(count or 0)


async def test_mixed_load_keeps_the_invariants(database: Database) -> None:
    world = await load_world(database)
    await check_invariants(database, exact_versions=True)
    audited_before = await audited_changes(database)
    tally = Tally()
    async with gateway(database) as api:
        started = time.monotonic()
        deadline = started + SECONDS
        await asyncio.gather(*(worker(api, world, tally, seed, deadline) for seed in range(WORKERS)))
        elapsed = time.monotonic() - started

    assert set(tally.statuses) == {200}, tally.statuses
    assert not tally.unexpected, tally.unexpected[:5]
    assert tally.changes > 0 and tally.by_operation["subscriptions"] > 0
    assert all(tally.by_operation[name] > 0 for name in (*CHANGES, *BULK_CHANGES)), tally.by_operation
    report = await check_invariants(database, exact_versions=True)
    # Exactly one audit event per change the callers were told about: none lost, none extra.
    assert await audited_changes(database) - audited_before == tally.changes
    print(
        f"\n{database.dialect}: {tally.requests} requests in {elapsed:.1f} s ({tally.requests / elapsed:.0f}/s),"
        f" {tally.changes} DPOR changes, errors by code {dict(tally.codes)}, by operation"
        f" {dict(tally.by_operation)}; {report.association_rows} association rows"
    )
