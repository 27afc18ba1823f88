"""Bulk DPOR changes over HTTP with real tokens (issue 14): all or nothing, every failing item listed, one history
row and one audit event per subscription under one correlation id, replays, owner only, no existence oracle."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, update

from auth.principal import Principal, Role
from db.association import PartnerAssociation
from db.audit import AuditEvent
from db.engine import Database
from db.enums import AssociationType, SubscriptionStatus
from db.subscription import Subscription
from resolvers.bulk_associations import MAX_ITEMS
from schema import global_id
from tests import factories
from tests.api import Api, error_codes, principal

CHANGE = (
    "changed message subscription { id version }"
    " association { id validFrom partner { mpnId } } previousAssociation { id validTo endReason partner { mpnId } }"
)
BULK_SET = f"""
mutation($input: BulkSetDigitalPartnerOfRecordInput!) {{
  bulkSetDigitalPartnerOfRecord(input: $input) {{ correlationId changes {{ {CHANGE} }} }}
}}
"""
BULK_REMOVE = f"""
mutation($input: BulkRemoveDigitalPartnerOfRecordInput!) {{
  bulkRemoveDigitalPartnerOfRecord(input: $input) {{ correlationId changes {{ {CHANGE} }} }}
}}
"""
SET_DPOR = """
mutation($input: SetDigitalPartnerOfRecordInput!) { setDigitalPartnerOfRecord(input: $input) { changed } }
"""
BATCH_AUDIT = """
query($c: String!) {
  auditEvents(first: 100, filter: {correlationId: $c}) {
    totalCount edges { node { action correlationId subscriptionId actorRole before after } }
  }
}
"""


def _sub(row: Any) -> str:
    return global_id.encode("Subscription", row.id)


def _partner(row: Any) -> str:
    return global_id.encode("Partner", row.id)


def _items(*pairs: tuple[Any, int]) -> list[dict[str, Any]]:
    return [
        {"subscriptionId": sub if isinstance(sub, str) else _sub(sub), "expectedVersion": version}
        for sub, version in pairs
    ]


def _set(partner: Any, items: list[dict[str, Any]], key: str | None = None) -> dict[str, Any]:
    return {"input": {"partnerId": _partner(partner), "subscriptions": items, "idempotencyKey": key}}


def _remove(items: list[dict[str, Any]], key: str | None = None) -> dict[str, Any]:
    return {"input": {"subscriptions": items, "idempotencyKey": key}}


async def _world(database: Database, subscriptions: int = 5) -> dict[str, Any]:
    ours, theirs = factories.tenant(), factories.tenant()
    first, second = factories.partner(), factories.partner()
    async with database.write() as session:
        await factories.add_flushed(session, ours, theirs, first, second)
        subs = [factories.subscription(ours) for _ in range(subscriptions)]
        foreign = factories.subscription(theirs)
        await factories.add_flushed(session, *subs, foreign)
    return {
        "ours": ours,
        "first": first,
        "second": second,
        "subs": subs,
        "foreign": foreign,
        "owner": principal(Role.OWNER, tenant=ours.external_id, subject="owner@ours"),
    }


async def _state(database: Database) -> tuple[int, int, dict[uuid.UUID, int]]:
    """(association rows, audit events, version per subscription) of the whole database."""
    async with database.read() as session:
        rows = int(await session.scalar(select(func.count()).select_from(PartnerAssociation)) or 0)
        events = int(await session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
        versions = {row[0]: row[1] for row in await session.execute(select(Subscription.id, Subscription.version))}
    return rows, events, versions


def _problems(body: dict[str, Any]) -> list[dict[str, Any]]:
    (error,) = body["errors"]
    problems: list[dict[str, Any]] = error["extensions"]["problems"]
    return problems


async def test_bulk_story(api: Api, database: Database) -> None:
    w = await _world(database)
    owner, subs, first, second = w["owner"], w["subs"], w["first"], w["second"]

    # Bulk set on three subscriptions: each gets its DPOR, version 2, one history row and one audit event.
    done = (await api.data(BULK_SET, _set(first, _items(*((s, 1) for s in subs[:3]))), as_=owner))[
        "bulkSetDigitalPartnerOfRecord"
    ]
    correlation = done["correlationId"]
    assert [c["subscription"]["id"] for c in done["changes"]] == [_sub(s) for s in subs[:3]]
    assert all(c["changed"] and c["message"] == "set" for c in done["changes"])
    assert {c["subscription"]["version"] for c in done["changes"]} == {2}
    assert {c["association"]["partner"]["mpnId"] for c in done["changes"]} == {first.mpn_id}
    audit = (await api.data(BATCH_AUDIT, {"c": correlation}, as_=owner))["auditEvents"]
    assert audit["totalCount"] == 3
    events = [edge["node"] for edge in audit["edges"]]
    assert sorted(e["subscriptionId"] for e in events) == sorted(_sub(s) for s in subs[:3])
    for event in events:
        assert (event["action"], event["correlationId"], event["actorRole"]) == (
            "bulkSetDigitalPartnerOfRecord",
            correlation,
            "OWNER",
        )
        # The single mutation's snapshots: version and DPOR before and after, with global ids.
        assert event["before"] == {"version": 1, "digitalPartnerOfRecord": None}
        assert event["after"]["version"] == 2
        assert event["after"]["digitalPartnerOfRecord"]["partnerId"] == _partner(first)
    before = await _state(database)
    assert before[:2] == (3, 3)

    # One stale version among several failures: nothing is written and every failing item is listed by index.
    random_sub = global_id.encode("Subscription", uuid.uuid4())
    refused = await api.execute(
        BULK_SET,
        _set(
            second,
            _items((subs[0], 2), (subs[1], 1), (subs[2], 2), (subs[0], 2), (w["foreign"], 1), (random_sub, 1)),
        ),
        as_=owner,
    )
    assert error_codes(refused) == ["CONFLICT"]  # the first failing item's code
    problems = _problems(refused)
    assert [(p["index"], p["code"]) for p in problems] == [
        (1, "CONFLICT"),
        (3, "BAD_USER_INPUT"),
        (4, "NOT_FOUND"),
        (5, "NOT_FOUND"),
    ]
    assert problems[0]["currentVersion"] == 2 and problems[0]["field"] == "expectedVersion"
    assert problems[1]["duplicateOf"] == 0
    # Another tenant's subscription answers exactly like one that does not exist.
    assert {k: v for k, v in problems[2].items() if k != "index"} == {
        k: v for k, v in problems[3].items() if k != "index"
    }
    assert await _state(database) == before

    # Replace on three, set on a fourth, with an idempotency key.
    items = _items(*((s, 2) for s in subs[:3]), (subs[3], 1))
    replaced = await api.data(BULK_SET, _set(second, items, key="bulk-1"), as_=owner)
    changes = replaced["bulkSetDigitalPartnerOfRecord"]["changes"]
    assert [c["message"] for c in changes] == ["replaced", "replaced", "replaced", "set"]
    for change in changes[:3]:
        previous = change["previousAssociation"]
        assert (previous["endReason"], previous["partner"]["mpnId"]) == ("REPLACED", first.mpn_id)
        assert previous["validTo"] == change["association"]["validFrom"]  # the same server instant
    after_replace = await _state(database)
    assert after_replace[:2] == (7, 7)

    # Replay: the same key and input answer the first result, writing nothing; another input with it is CONFLICT.
    assert await api.data(BULK_SET, _set(second, items, key="bulk-1"), as_=owner) == replaced
    assert await _state(database) == after_replace
    other_input = await api.execute(BULK_SET, _set(first, items, key="bulk-1"), as_=owner)
    assert error_codes(other_input) == ["CONFLICT"]
    assert other_input["errors"][0]["extensions"]["field"] == "idempotencyKey"
    assert await _state(database) == after_replace

    # Naming the partner that already is the DPOR changes nothing for that item, and it writes nothing for it.
    same = (await api.data(BULK_SET, _set(second, _items((subs[0], 3), (subs[4], 1))), as_=owner))[
        "bulkSetDigitalPartnerOfRecord"
    ]
    assert [(c["changed"], c["subscription"]["version"]) for c in same["changes"]] == [(False, 3), (True, 2)]
    assert (await api.data(BATCH_AUDIT, {"c": same["correlationId"]}, as_=owner))["auditEvents"]["totalCount"] == 1

    # Bulk remove: every DPOR ends REMOVED_BY_OWNER, under a new correlation id.
    removed = (
        await api.data(BULK_REMOVE, _remove(_items(*((s, 3) for s in subs[:3]), (subs[3], 2), (subs[4], 2))), as_=owner)
    )["bulkRemoveDigitalPartnerOfRecord"]
    assert removed["correlationId"] not in (correlation, same["correlationId"])
    assert all(c["changed"] and c["association"] is None for c in removed["changes"])
    assert {c["previousAssociation"]["endReason"] for c in removed["changes"]} == {"REMOVED_BY_OWNER"}
    assert (await api.data(BATCH_AUDIT, {"c": removed["correlationId"]}, as_=owner))["auditEvents"]["totalCount"] == 5
    async with database.read() as session:
        active = await session.scalar(
            select(func.count()).where(
                PartnerAssociation.type == AssociationType.DIGITAL_PARTNER_OF_RECORD,
                PartnerAssociation.valid_to.is_(None),
            )
        )
    assert active == 0
    # Removing again: nothing to remove is no change, no event.
    again = (await api.data(BULK_REMOVE, _remove(_items((subs[0], 4))), as_=owner))["bulkRemoveDigitalPartnerOfRecord"]
    assert again["changes"][0]["changed"] is False
    assert (await api.data(BATCH_AUDIT, {"c": again["correlationId"]}, as_=owner))["auditEvents"]["totalCount"] == 0

    # A stale version in a remove also writes nothing.
    before_stale = await _state(database)
    stale_remove = await api.execute(BULK_REMOVE, _remove(_items((subs[0], 4), (subs[1], 3))), as_=owner)
    assert [(p["index"], p["code"], p["currentVersion"]) for p in _problems(stale_remove)] == [(1, "CONFLICT", 4)]
    assert await _state(database) == before_stale


@pytest.mark.parametrize(
    "caller",
    ["service-admin", "co-admin", "delegated-admin", "partner", "platform-admin"],
)
async def test_only_the_owner_may_change_dpors_in_bulk(api: Api, database: Database, caller: str) -> None:
    w = await _world(database, subscriptions=1)
    tenant = w["ours"].external_id
    callers: dict[str, Principal] = {
        "service-admin": principal(Role.SERVICE_ADMIN, tenant=tenant),
        "co-admin": principal(Role.CO_ADMIN, tenant=tenant),
        "delegated-admin": principal(Role.DELEGATED_ADMIN, tenant=tenant, partner=w["first"].mpn_id),
        "partner": principal(Role.PARTNER, partner=w["first"].mpn_id),
        "platform-admin": principal(Role.PLATFORM_ADMIN),
    }
    items = _items((w["subs"][0], 1))
    for document, variables in ((BULK_SET, _set(w["second"], items)), (BULK_REMOVE, _remove(items))):
        body = await api.execute(document, variables, as_=callers[caller])
        assert error_codes(body) == ["FORBIDDEN"], body
        assert "problems" not in body["errors"][0]["extensions"]
    assert (await _state(database))[:2] == (0, 0)


async def test_the_batch_size_is_1_to_500_and_malformed_items_are_listed(api: Api, database: Database) -> None:
    w = await _world(database, subscriptions=2)
    owner, subs = w["owner"], w["subs"]
    for count in (0, MAX_ITEMS + 1):
        items = [{"subscriptionId": _sub(subs[0]), "expectedVersion": 1}] * count
        for document, variables in ((BULK_SET, _set(w["first"], items)), (BULK_REMOVE, _remove(items))):
            body = await api.execute(document, variables, as_=owner)
            assert error_codes(body) == ["BAD_USER_INPUT"], body
            extensions = body["errors"][0]["extensions"]
            assert (extensions["field"], extensions["maximum"], extensions["actual"]) == ("subscriptions", 500, count)
    malformed = await api.execute(
        BULK_SET,
        _set(w["first"], _items((subs[0], 1), ("not-an-id", 1), (_partner(w["first"]), 1), (subs[1], 0))),
        as_=owner,
    )
    assert [(p["index"], p["code"], p["field"]) for p in _problems(malformed)] == [
        (1, "BAD_USER_INPUT", "subscriptionId"),
        (2, "BAD_USER_INPUT", "subscriptionId"),
        (3, "BAD_USER_INPUT", "expectedVersion"),
    ]
    # Malformed items are listed with every other failing one, not instead of them: a stale version, another
    # tenant's subscription and a repeat fail beside an id that does not decode.
    for document, variables in (
        (BULK_SET, _set(w["first"], _items((subs[0], 2), ("not-an-id", 1), (w["foreign"], 1), (subs[0], 1)))),
        (BULK_REMOVE, _remove(_items((subs[0], 2), ("not-an-id", 1), (w["foreign"], 1), (subs[0], 1)))),
    ):
        mixed = await api.execute(document, variables, as_=owner)
        assert error_codes(mixed) == ["CONFLICT"]  # the first failing item's
        assert [(p["index"], p["code"], p.get("currentVersion"), p.get("duplicateOf")) for p in _problems(mixed)] == [
            (0, "CONFLICT", 1, None),
            (1, "BAD_USER_INPUT", None, None),
            (2, "NOT_FOUND", None, None),
            (3, "BAD_USER_INPUT", None, 0),
        ]
    # A caller that may not change a DPOR is FORBIDDEN whatever its items look like.
    partner = principal(Role.PARTNER, partner=w["first"].mpn_id)
    forbidden = await api.execute(BULK_REMOVE, _remove(_items(("not-an-id", 1))), as_=partner)
    assert error_codes(forbidden) == ["FORBIDDEN"], forbidden
    assert (await _state(database))[:2] == (0, 0)


async def test_an_inactive_subscription_is_listed_as_not_active(api: Api, database: Database) -> None:
    w = await _world(database, subscriptions=2)
    suspended = w["subs"][1]
    async with database.write() as session:
        await session.execute(
            update(Subscription).where(Subscription.id == suspended.id).values(status=SubscriptionStatus.SUSPENDED)
        )
    body = await api.execute(BULK_SET, _set(w["first"], _items((w["subs"][0], 1), (suspended, 1))), as_=w["owner"])
    assert [(p["index"], p["code"], p["subscriptionStatus"]) for p in _problems(body)] == [
        (1, "NOT_ACTIVE", "SUSPENDED")
    ]
    assert (await _state(database))[:2] == (0, 0)


async def test_an_unknown_partner_refuses_the_batch(api: Api, database: Database) -> None:
    w = await _world(database, subscriptions=2)
    ghost = global_id.encode("Partner", uuid.uuid4())
    variables = {"input": {"partnerId": ghost, "subscriptions": _items((w["subs"][0], 1), (w["subs"][1], 1))}}
    body = await api.execute(BULK_SET, variables, as_=w["owner"])
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "partnerId"
    assert (await _state(database))[:2] == (0, 0)


async def test_a_batch_costs_the_same_statements_whatever_its_size(api: Api, database: Database) -> None:
    """Set-based SQL: locks, checks and writes do not grow with the batch (no statement per subscription)."""
    w = await _world(database, subscriptions=40)
    owner, subs = w["owner"], w["subs"]
    await api.data("{ viewer { subject } }", as_=owner)  # the token's tenant id is looked up once, then remembered
    counts: dict[int, list[int]] = {}
    statements: dict[int, list[str]] = {}
    for size, chunk in ((3, subs[:3]), (30, subs[3:33])):
        for document, variables in (
            (BULK_SET, _set(w["first"], _items(*((s, 1) for s in chunk)), key=f"set-{size}")),
            (BULK_SET, _set(w["second"], _items(*((s, 2) for s in chunk)), key=f"replace-{size}")),
            (BULK_REMOVE, _remove(_items(*((s, 3) for s in chunk)), key=f"remove-{size}")),
        ):
            async with api.counting() as counter:
                await api.data(document, variables, as_=owner)
            counts.setdefault(size, []).append(counter.count)
            statements.setdefault(size, []).extend(counter.statements)
    assert counts[3] == counts[30], (counts, statements)


async def test_a_single_change_and_a_bulk_one_write_the_same_rows(api: Api, database: Database) -> None:
    """The single mutation is the bulk one's one-item case: same history row, same audit snapshots."""
    w = await _world(database, subscriptions=2)
    owner, (single, bulk) = w["owner"], w["subs"]
    single_variables = {
        "input": {"subscriptionId": _sub(single), "partnerId": _partner(w["first"]), "expectedVersion": 1}
    }
    await api.data(SET_DPOR, single_variables, as_=owner)
    await api.data(BULK_SET, _set(w["first"], _items((bulk, 1))), as_=owner)
    async with database.read() as session:
        rows = {
            row.subscription_id: row
            for row in await session.scalars(select(PartnerAssociation).order_by(PartnerAssociation.subscription_id))
        }
        events = {row.subscription_id: row for row in await session.scalars(select(AuditEvent))}
    columns = ("partner_id", "type", "valid_to", "created_by", "created_by_role", "created_by_client_id", "end_reason")
    assert [getattr(rows[single.id], c) for c in columns] == [getattr(rows[bulk.id], c) for c in columns]
    assert (events[single.id].action, events[bulk.id].action) == (
        "setDigitalPartnerOfRecord",
        "bulkSetDigitalPartnerOfRecord",
    )
    assert events[single.id].correlation_id is None and events[bulk.id].correlation_id is not None

    def shape(event: AuditEvent) -> Any:
        after = dict(event.after or {})
        after["digitalPartnerOfRecord"] = {**after["digitalPartnerOfRecord"], "associationId": None, "validFrom": None}
        return event.before, after

    assert shape(events[single.id]) == shape(events[bulk.id])
