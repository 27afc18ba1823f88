"""Recognition roles (issue 14): an optional role set with a link, kept on the association, in its history and audit
snapshot, and a grouping of usage attribution. Over HTTP with real tokens, on every backend."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from auth.principal import Role
from db.audit import AuditEvent
from db.engine import Database
from resolvers.usage.ingestion import ingest_usage
from schema import global_id
from tests import factories
from tests.api import Api, error_codes, principal
from tests.server_clock import ServerClock
from tests.usage_helpers import record

LINK = """mutation($input: LinkPartnerInput!) {
  linkPartner(input: $input) { changed association { id recognitionRole } } }"""
HISTORY = """query($id: ID!) { subscription(id: $id) {
  associationHistory(first: 10) { edges { node { type recognitionRole partner { mpnId } } } } } }"""
BY_ROLE = """query($t: ID!, $groups: [UsageGroupBy!]!) {
  usageAggregates(filter: {from: "2026-03-01", to: "2026-03-10", tenantId: $t}, groupBy: $groups) {
    recognitionRole associationType partner { mpnId } attribution { amount } } }"""


async def _world(database: Database) -> dict[str, Any]:
    tenant, seller, manager = factories.tenant(), factories.partner(), factories.partner()
    async with database.write() as session:
        await factories.add_flushed(session, tenant, seller, manager)
        sub = factories.subscription(tenant)
        await factories.add_flushed(session, sub)
        await ingest_usage(session, [record(sub, date(2026, 3, 1) + timedelta(days=n)) for n in range(10)])
    owner = principal(Role.OWNER, tenant=tenant.external_id)
    return {"tenant": tenant, "sub": sub, "seller": seller, "manager": manager, "owner": owner}


def _link(w: dict[str, Any], partner: str, version: int, role: str | None) -> dict[str, Any]:
    given: dict[str, Any] = {
        "subscriptionId": global_id.encode("Subscription", w["sub"].id),
        "partnerId": global_id.encode("Partner", w[partner].id),
        "type": "TRANSACTING_PARTNER",
        "expectedVersion": version,
    }
    if role is not None:
        given["recognitionRole"] = role
    return {"input": given}


async def test_a_links_recognition_role_is_kept_shown_in_history_and_groups_attribution(
    api: Api, database: Database, server_clock: ServerClock
) -> None:
    w = await _world(database)
    server_clock.set(datetime(2026, 3, 3, tzinfo=UTC))
    sold = (await api.data(LINK, _link(w, "seller", 1, "SELL_AND_DEPLOY"), as_=w["owner"]))["linkPartner"]
    assert sold["association"]["recognitionRole"] == "SELL_AND_DEPLOY"
    server_clock.set(datetime(2026, 3, 6, 12, tzinfo=UTC))
    managed = (await api.data(LINK, _link(w, "manager", 2, "MANAGE_AND_USE"), as_=w["owner"]))["linkPartner"]
    assert managed["association"]["recognitionRole"] == "MANAGE_AND_USE"
    # Linking again changes nothing, the role included.
    again = (await api.data(LINK, _link(w, "manager", 3, "SELL_AND_DEPLOY"), as_=w["owner"]))["linkPartner"]
    assert (again["changed"], again["association"]["recognitionRole"]) == (False, "MANAGE_AND_USE")

    history = await api.data(HISTORY, {"id": global_id.encode("Subscription", w["sub"].id)}, as_=w["owner"])
    roles = {
        edge["node"]["partner"]["mpnId"]: edge["node"]["recognitionRole"]
        for edge in history["subscription"]["associationHistory"]["edges"]
    }
    assert roles == {w["seller"].mpn_id: "SELL_AND_DEPLOY", w["manager"].mpn_id: "MANAGE_AND_USE"}
    async with database.read() as session:
        events = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "linkPartner"))).all()
    assert sorted(event.after["association"]["recognitionRole"] for event in events if event.after) == [
        "MANAGE_AND_USE",
        "SELL_AND_DEPLOY",
    ]

    tenant = global_id.encode("Tenant", w["tenant"].id)
    # Grouped by role: 3-10 March to the seller, 6 (half) to 10 March to the manager, one row per role.
    by_role = await api.data(BY_ROLE, {"t": tenant, "groups": ["RECOGNITION_ROLE"]}, as_=w["owner"])
    rows = sorted(
        (row["recognitionRole"], row["associationType"], row["partner"]["mpnId"], row["attribution"]["amount"])
        for row in by_role["usageAggregates"]
    )
    assert rows == [
        ("MANAGE_AND_USE", "TRANSACTING_PARTNER", w["manager"].mpn_id, "4.50"),
        ("SELL_AND_DEPLOY", "TRANSACTING_PARTNER", w["seller"].mpn_id, "8.00"),
    ]
    # Without the grouping the rows carry no role.
    plain = await api.data(BY_ROLE, {"t": tenant, "groups": ["PARTNER"]}, as_=w["owner"])
    assert {row["recognitionRole"] for row in plain["usageAggregates"]} == {None}


async def test_an_unknown_recognition_role_is_refused(api: Api, database: Database) -> None:
    w = await _world(database)
    body = await api.execute(LINK, _link(w, "seller", 1, "RESELL"), as_=w["owner"])
    assert error_codes(body) == ["BAD_USER_INPUT"], body
