"""A partner's token never yields a contact, another partner's association, or another tenant's data, whatever
the query's shape: direct, nested through subscription -> tenant -> contacts, or through node(id:)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from auth.principal import Role
from db.engine import Database
from db.enums import AssociationEndReason, AssociationType
from db.tenant import TenantContact
from schema import global_id
from tests import factories
from tests.api import Api, error_codes, principal

SECRET_EMAIL = "ceo@customer.example"


async def _world(database: Database) -> dict[str, Any]:
    ours, rival = factories.partner(), factories.partner()
    customer, stranger = factories.tenant(), factories.tenant()
    async with database.write() as session:
        await factories.add_flushed(session, ours, rival, customer, stranger)
        shared, foreign = factories.subscription(customer), factories.subscription(stranger)
        await factories.add_flushed(session, shared, foreign)
        session.add_all(
            [
                TenantContact(tenant_id=customer.id, name="The CEO", email=SECRET_EMAIL, phone="+1 555 0100"),
                TenantContact(tenant_id=stranger.id, name="Someone", email="someone@stranger.example"),
                # Ours was the DPOR until March, then the rival took over; the rival also transacts.
                factories.association(
                    shared,
                    ours,
                    valid_from=datetime(2026, 1, 1, tzinfo=UTC),
                    valid_to=datetime(2026, 3, 15, 12, tzinfo=UTC),
                    ended_by="owner",
                    end_reason=AssociationEndReason.REPLACED,
                ),
                factories.association(shared, rival, valid_from=datetime(2026, 3, 15, 12, tzinfo=UTC)),
                factories.association(shared, rival, type=AssociationType.TRANSACTING_PARTNER),
                factories.association(foreign, rival),
            ]
        )
    return {
        "ours": ours,
        "rival": rival,
        "customer": customer,
        "stranger": stranger,
        "shared": shared,
        "foreign": foreign,
    }


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


QUERIES = {
    "attributed -> node -> tenant -> contacts": """{ attributedSubscriptions(first: 10) { edges { node {
        tenant { displayName contacts(first: 5) { edges { node { email phone name } } } } } } } }""",
    "subscriptions -> tenant -> contacts": """{ subscriptions(first: 10) { edges { node {
        tenant { primaryDomain contacts(first: 5) { edges { node { email } } } } } } } }""",
    "tenants -> contacts": """{ tenants(first: 10) { edges { node { displayName
        contacts(first: 5) { edges { node { email } } } } } } }""",
    "tenants -> subscriptions -> associations": """{ tenants(first: 10) { edges { node {
        subscriptions(first: 10) { edges { node { digitalPartnerOfRecord { partner { mpnId } }
          partnerAssociations(includeEnded: true) { partner { mpnId } type }
          associationHistory(first: 10) { edges { node { partner { mpnId } } } } } } } } } } }""",
    "viewer -> partner -> attributed -> tenant": """{ viewer { partner { attributedSubscriptions(first: 10) {
        edges { node { tenant { contacts(first: 5) { edges { node { email } } } } } } } } } }""",
}


@pytest.mark.parametrize("shape", QUERIES)
async def test_partner_never_sees_contacts_or_rivals(api: Api, database: Database, shape: str) -> None:
    world = await _world(database)
    body = await api.execute(QUERIES[shape], as_=principal(Role.PARTNER, partner=world["ours"].mpn_id))
    seen = _strings(body.get("data"))
    assert SECRET_EMAIL not in seen and "+1 555 0100" not in seen and "The CEO" not in seen
    assert "someone@stranger.example" not in seen
    assert world["rival"].mpn_id not in seen, "another partner's associations leaked"
    assert world["stranger"].display_name not in seen
    # Where contacts were asked for, the field is refused as FORBIDDEN and the rest of the answer stands.
    if "contacts" in QUERIES[shape]:
        refused = [error for error in body["errors"] if error["path"][-1] == "contacts"]
        assert refused and {error["extensions"]["code"] for error in refused} == {"FORBIDDEN"}
        assert body["data"] is not None


async def test_node_lookup_of_things_outside_reach_is_null(api: Api, database: Database) -> None:
    world = await _world(database)
    caller = principal(Role.PARTNER, partner=world["ours"].mpn_id)
    for type_name, row in [
        ("Tenant", world["stranger"]),
        ("Subscription", world["foreign"]),
        ("Partner", world["rival"]),
    ]:
        body = await api.execute(
            "query($id: ID!) { node(id: $id) { id } }", {"id": global_id.encode(type_name, row.id)}, as_=caller
        )
        assert body["data"] == {"node": None}
        assert "errors" not in body
    visible = await api.data(
        "query($id: ID!) { node(id: $id) { ... on Tenant { displayName } } }",
        {"id": global_id.encode("Tenant", world["customer"].id)},
        as_=caller,
    )
    assert visible["node"] == {"displayName": world["customer"].display_name}


async def test_delegated_admin_sees_contacts_only_while_the_relationship_is_active(
    api: Api, database: Database
) -> None:
    from db.delegation import DelegatedAdminRelationship
    from db.enums import DelegationStatus

    world = await _world(database)
    async with database.write() as session:
        relationship = DelegatedAdminRelationship(tenant_id=world["customer"].id, partner_id=world["ours"].id)
        session.add(relationship)
    caller = principal(Role.DELEGATED_ADMIN, tenant=world["customer"].external_id, partner=world["ours"].mpn_id)
    query = "{ tenants(first: 5) { edges { node { contacts(first: 5) { edges { node { email } } } } } } }"
    assert SECRET_EMAIL in _strings(await api.data(query, as_=caller))

    async with database.write() as session:
        row = await session.get(DelegatedAdminRelationship, relationship.id)
        assert row is not None
        row.status, row.ended_at = DelegationStatus.ENDED, datetime.now(UTC)
    body = await api.execute(query, as_=caller)
    assert error_codes(body) == ["FORBIDDEN"]
    assert SECRET_EMAIL not in _strings(body.get("data"))


ATTRIBUTED = (
    "{ attributedSubscriptions(first: 5) { totalCount edges { node { id } }"
    " pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"
)


async def test_a_partner_whose_mpn_id_is_unknown_gets_an_empty_page(api: Api, database: Database) -> None:
    await _world(database)
    # Before: "partnerId is required for callers that do not act as a partner", to a caller that does.
    body = await api.execute(ATTRIBUTED, as_=principal(Role.PARTNER, partner="999999999"))
    assert "errors" not in body, body
    assert body["data"]["attributedSubscriptions"] == {
        "totalCount": 0,
        "edges": [],
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None},
    }
    # A caller that does not act as a partner still has to name one.
    refused = await api.execute(ATTRIBUTED, as_=principal(Role.PLATFORM_ADMIN))
    assert error_codes(refused) == ["BAD_USER_INPUT"]
    assert refused["errors"][0]["extensions"]["field"] == "partnerId"
