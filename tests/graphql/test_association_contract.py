"""The association mutations keep their contract: audit snapshots, status rules, no existence oracle, and payloads
that show what the transaction wrote."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select, update

from auth.principal import Role
from db.audit import AuditEvent
from db.delegation import DelegatedAdminRelationship
from db.engine import Database
from db.enums import AssociationType, SubscriptionStatus, TenantStatus
from db.subscription import Subscription
from db.tenant import Tenant
from schema import global_id
from schema.mutations import associations as association_mutations
from tests import factories
from tests.api import Api, error_codes, principal

PAYLOAD = (
    "changed message subscription { version }"
    " association { id validTo partner { mpnId } } previousAssociation { id validTo }"
)
SET_DPOR = f"""
mutation($input: SetDigitalPartnerOfRecordInput!) {{ setDigitalPartnerOfRecord(input: $input) {{ {PAYLOAD} }} }}
"""
REMOVE_DPOR = f"""
mutation($input: RemoveDigitalPartnerOfRecordInput!) {{ removeDigitalPartnerOfRecord(input: $input) {{ {PAYLOAD} }} }}
"""
LINK = f"mutation($input: LinkPartnerInput!) {{ linkPartner(input: $input) {{ {PAYLOAD} }} }}"
UNLINK = f"mutation($input: UnlinkPartnerInput!) {{ unlinkPartner(input: $input) {{ {PAYLOAD} }} }}"
END_DELEGATION = """
mutation($input: EndDelegatedAdminRelationshipInput!) {
  endDelegatedAdminRelationship(input: $input) { relationship { id } }
}
"""
AUDIT = "query { auditEvents(first: 20) { edges { node { action before after } } } }"
NODE = "query($id: ID!) { node(id: $id) { id } }"


async def _world(database: Database) -> dict[str, Any]:
    ours, theirs = factories.tenant(), factories.tenant()
    first, second = factories.partner(), factories.partner()
    async with database.write() as session:
        await factories.add_flushed(session, ours, theirs, first, second)
        sub, foreign = factories.subscription(ours), factories.subscription(theirs)
        await factories.add_flushed(session, sub, foreign)
        link = factories.association(foreign, first, type=AssociationType.TRANSACTING_PARTNER)
        delegation = DelegatedAdminRelationship(tenant_id=theirs.id, partner_id=first.id)
        await factories.add_flushed(session, link, delegation)
    return {
        "ours": ours,
        "theirs": theirs,
        "first": first,
        "second": second,
        "sub": sub,
        "foreign": foreign,
        "foreign_link": link,
        "foreign_delegation": delegation,
        "owner": principal(Role.OWNER, tenant=ours.external_id, subject="owner@ours"),
    }


def _sub(row: Any) -> str:
    return global_id.encode("Subscription", row.id)


def _partner(row: Any) -> str:
    return global_id.encode("Partner", row.id)


def _set(sub: Any, partner: Any, version: int, key: str | None = None) -> dict[str, Any]:
    return {
        "input": {
            "subscriptionId": _sub(sub),
            "partnerId": _partner(partner),
            "expectedVersion": version,
            "idempotencyKey": key,
        }
    }


# Audit snapshots (issue 10.3) ----------------------------------------------------------------------------------


async def test_audit_before_is_the_state_before_the_change_with_global_ids(api: Api, database: Database) -> None:
    w = await _world(database)
    owner = w["owner"]
    await api.data(SET_DPOR, _set(w["sub"], w["first"], 1), as_=owner)
    await api.data(SET_DPOR, _set(w["sub"], w["second"], 2), as_=owner)
    await api.data(REMOVE_DPOR, {"input": {"subscriptionId": _sub(w["sub"]), "expectedVersion": 3}}, as_=owner)
    events = [edge["node"] for edge in (await api.data(AUDIT, as_=owner))["auditEvents"]["edges"]]
    by_action: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_action.setdefault(event["action"], []).append(event)

    removed = by_action["removeDigitalPartnerOfRecord"][0]
    replaced = next(e for e in by_action["setDigitalPartnerOfRecord"] if e["before"] is not None)
    for event in (replaced, removed):
        before = event["before"]["digitalPartnerOfRecord"]
        assert before["validTo"] is None, event  # it was active before the change
    assert replaced["before"]["digitalPartnerOfRecord"]["partnerId"] == _partner(w["first"])
    assert removed["before"]["digitalPartnerOfRecord"]["partnerId"] == _partner(w["second"])

    # Every id in a snapshot is a global id that node(id:) accepts.
    for event in events:
        for side in (event["before"], event["after"]):
            snapshot = (side or {}).get("digitalPartnerOfRecord")
            if snapshot is None:
                continue
            for key in ("associationId", "partnerId"):
                found = await api.data(NODE, {"id": snapshot[key]}, as_=owner)
                assert found["node"] == {"id": snapshot[key]}


async def test_unlink_audit_before_is_active_and_uses_global_ids(api: Api, database: Database) -> None:
    w = await _world(database)
    owner = w["owner"]
    linked = await api.data(
        LINK,
        {
            "input": {
                "subscriptionId": _sub(w["sub"]),
                "partnerId": _partner(w["first"]),
                "type": "TRANSACTING_PARTNER",
                "expectedVersion": 1,
            }
        },
        as_=owner,
    )
    association_id = linked["linkPartner"]["association"]["id"]
    await api.data(UNLINK, {"input": {"associationId": association_id, "expectedVersion": 2}}, as_=owner)
    async with database.read() as session:
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "unlinkPartner"))
    assert event is not None and event.before is not None and event.after is not None
    assert event.before["association"]["associationId"] == association_id
    assert event.before["association"]["validTo"] is None
    assert event.after["association"]["validTo"] is not None


# Status rule (issue 10.5) --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [TenantStatus.SUSPENDED, TenantStatus.DELETED])
async def test_no_association_change_on_a_tenant_that_is_not_active(
    api: Api, database: Database, status: TenantStatus
) -> None:
    w = await _world(database)
    owner = w["owner"]
    await api.data(SET_DPOR, _set(w["sub"], w["first"], 1), as_=owner)
    async with database.write() as session:
        await session.execute(update(Tenant).where(Tenant.id == w["ours"].id).values(status=status))

    refusals = [
        await api.execute(SET_DPOR, _set(w["sub"], w["second"], 2), as_=owner),
        await api.execute(REMOVE_DPOR, {"input": {"subscriptionId": _sub(w["sub"]), "expectedVersion": 2}}, as_=owner),
        await api.execute(
            LINK,
            {
                "input": {
                    "subscriptionId": _sub(w["sub"]),
                    "partnerId": _partner(w["second"]),
                    "type": "TRANSACTING_PARTNER",
                    "expectedVersion": 2,
                }
            },
            as_=owner,
        ),
    ]
    for body in refusals:
        assert error_codes(body) == ["NOT_ACTIVE"], body
        assert body["errors"][0]["extensions"]["tenantStatus"] == status.value
    # Reads still work, and nothing changed.
    read = await api.data(
        "query($id: ID!) { subscription(id: $id) { version digitalPartnerOfRecord { partner { mpnId } } } }",
        {"id": _sub(w["sub"])},
        as_=owner,
    )
    assert read["subscription"] == {"version": 2, "digitalPartnerOfRecord": {"partner": {"mpnId": w["first"].mpn_id}}}


async def test_no_association_change_on_a_suspended_subscription(api: Api, database: Database) -> None:
    w = await _world(database)
    owner = w["owner"]
    async with database.write() as session:
        await session.execute(
            update(Subscription).where(Subscription.id == w["sub"].id).values(status=SubscriptionStatus.SUSPENDED)
        )
    body = await api.execute(SET_DPOR, _set(w["sub"], w["first"], 1), as_=owner)
    assert error_codes(body) == ["NOT_ACTIVE"]
    assert body["errors"][0]["extensions"]["subscriptionStatus"] == "SUSPENDED"
    assert body["errors"][0]["extensions"]["field"] == "subscriptionId"


async def test_a_foreign_suspended_tenant_is_still_not_found(api: Api, database: Database) -> None:
    """The status rule comes after the reach check: it must not tell another tenant's owner anything."""
    w = await _world(database)
    async with database.write() as session:
        await session.execute(update(Tenant).where(Tenant.id == w["theirs"].id).values(status=TenantStatus.SUSPENDED))
    body = await api.execute(SET_DPOR, _set(w["foreign"], w["first"], 1), as_=w["owner"])
    assert error_codes(body) == ["NOT_FOUND"]


# No existence oracle (issue 11.2) ------------------------------------------------------------------------------


def _error(body: dict[str, Any]) -> tuple[list[str], list[str]]:
    return error_codes(body), [error["message"] for error in body.get("errors", [])]


async def test_a_foreign_id_answers_exactly_like_a_random_one(api: Api, database: Database) -> None:
    w = await _world(database)
    owner = w["owner"]
    random_sub = global_id.encode("Subscription", uuid.uuid4())
    cases = {
        "unlinkPartner": (
            UNLINK,
            lambda id_: {"input": {"associationId": id_, "expectedVersion": 1}},
            global_id.encode("PartnerAssociation", w["foreign_link"].id),
            global_id.encode("PartnerAssociation", uuid.uuid4()),
        ),
        "setDigitalPartnerOfRecord": (
            SET_DPOR,
            lambda id_: {"input": {"subscriptionId": id_, "partnerId": _partner(w["first"]), "expectedVersion": 1}},
            _sub(w["foreign"]),
            random_sub,
        ),
        "removeDigitalPartnerOfRecord": (
            REMOVE_DPOR,
            lambda id_: {"input": {"subscriptionId": id_, "expectedVersion": 1}},
            _sub(w["foreign"]),
            random_sub,
        ),
        "linkPartner": (
            LINK,
            lambda id_: {
                "input": {
                    "subscriptionId": id_,
                    "partnerId": _partner(w["first"]),
                    "type": "TRANSACTING_PARTNER",
                    "expectedVersion": 1,
                }
            },
            _sub(w["foreign"]),
            random_sub,
        ),
        "endDelegatedAdminRelationship": (
            END_DELEGATION,
            lambda id_: {"input": {"relationshipId": id_}},
            global_id.encode("DelegatedAdminRelationship", w["foreign_delegation"].id),
            global_id.encode("DelegatedAdminRelationship", uuid.uuid4()),
        ),
    }
    for name, (document, variables, foreign_id, random_id) in cases.items():
        foreign = _error(await api.execute(document, variables(foreign_id), as_=owner))
        random = _error(await api.execute(document, variables(random_id), as_=owner))
        assert foreign == random, name
        assert foreign[0] == ["NOT_FOUND"], (name, foreign)


# Payloads show what the transaction wrote (issue 11.17) --------------------------------------------------------


async def test_payload_version_is_the_one_written_even_when_another_write_lands_right_after(
    api: Api, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await _world(database)
    original = association_mutations.perform

    async def another_writer_first(*args: Any) -> Any:
        change = await original(*args)
        # Another transaction commits between ours and the payload being built.
        async with database.write() as session:
            await session.execute(
                update(Subscription).where(Subscription.id == w["sub"].id).values(version=Subscription.version + 1)
            )
        return change

    monkeypatch.setattr(association_mutations, "perform", another_writer_first)
    result = (await api.data(SET_DPOR, _set(w["sub"], w["first"], 1), as_=w["owner"]))["setDigitalPartnerOfRecord"]
    assert result["subscription"]["version"] == 2  # what this write produced; the database is at 3 now
    async with database.read() as session:
        assert await session.scalar(select(Subscription.version).where(Subscription.id == w["sub"].id)) == 3


async def test_a_replay_returns_the_first_result_not_todays_state(api: Api, database: Database) -> None:
    w = await _world(database)
    owner = w["owner"]
    first = await api.data(SET_DPOR, _set(w["sub"], w["first"], 1, key="k-1"), as_=owner)
    assert first["setDigitalPartnerOfRecord"]["subscription"]["version"] == 2
    # Someone else replaces the DPOR afterwards: the first association ends, the version moves on.
    other = principal(Role.OWNER, tenant=w["ours"].external_id, subject="other@ours")
    await api.data(SET_DPOR, _set(w["sub"], w["second"], 2), as_=other)

    replayed = await api.data(SET_DPOR, _set(w["sub"], w["first"], 1, key="k-1"), as_=owner)
    assert replayed == first
    assert replayed["setDigitalPartnerOfRecord"]["association"]["validTo"] is None


async def test_provisioning_audit_events_name_associations_by_global_id(api: Api, database: Database) -> None:
    w = await _world(database)
    admin = principal(Role.PLATFORM_ADMIN)
    delegation_id = global_id.encode("DelegatedAdminRelationship", w["foreign_delegation"].id)
    async with database.write() as session:
        admin_link = factories.association(w["foreign"], w["first"], type=AssociationType.PARTNER_ADMIN_LINK)
        await factories.add_flushed(session, admin_link)
    await api.data(END_DELEGATION, {"input": {"relationshipId": delegation_id}}, as_=admin)
    await api.data(
        "mutation($input: SetSubscriptionStatusInput!)"
        " { setSubscriptionStatus(input: $input) { subscription { id } } }",
        {"input": {"subscriptionId": _sub(w["foreign"]), "status": "DELETED"}},
        as_=admin,
    )
    async with database.read() as session:
        events = {event.action: event for event in (await session.scalars(select(AuditEvent))).all()}
    ended_links = events["endDelegatedAdminRelationship"].after["endedAdminLinks"]  # type: ignore[index]
    ended = events["setSubscriptionStatus"].after["endedAssociations"]  # type: ignore[index]
    assert ended_links == [global_id.encode("PartnerAssociation", admin_link.id)]
    assert global_id.encode("PartnerAssociation", w["foreign_link"].id) in ended
    for association_id in [*ended_links, *ended]:
        assert (await api.data(NODE, {"id": association_id}, as_=admin))["node"] == {"id": association_id}
