"""Who acted on an association: the token subject (personal data) only for the tenant's own admins and platform
admins; everyone else who reads the association reads the actor's role and client (auth.policy)."""

from __future__ import annotations

from typing import Any

from auth.principal import Role
from db.delegation import DelegatedAdminRelationship
from db.engine import Database
from schema import global_id
from tests import factories
from tests.api import Api, principal

OWNER_SUBJECT = "demo-owner@contoso.example"
REPLACER_SUBJECT = "second-owner@contoso.example"

SET_DPOR = """
mutation($input: SetDigitalPartnerOfRecordInput!) {
  setDigitalPartnerOfRecord(input: $input) { subscription { version } }
}
"""
ACTORS = """
query($id: ID!) { subscription(id: $id) { partnerAssociations(includeEnded: true) {
  partner { mpnId } createdBy endedBy createdByRole createdByClientId endedByRole endedByClientId
} } }
"""


async def _world(api: Api, database: Database) -> dict[str, Any]:
    """A customer tenant whose owners made `first` and then `second` its DPOR, plus another tenant."""
    customer, elsewhere = factories.tenant(), factories.tenant()
    first, second, helper = factories.partner(), factories.partner(), factories.partner()
    async with database.write() as session:
        await factories.add_flushed(session, customer, elsewhere, first, second, helper)
        sub = factories.subscription(customer)
        await factories.add_flushed(session, sub)
        session.add(DelegatedAdminRelationship(tenant_id=customer.id, partner_id=helper.id))
    for version, (partner, subject) in enumerate([(first, OWNER_SUBJECT), (second, REPLACER_SUBJECT)], start=1):
        owner = principal(Role.OWNER, tenant=customer.external_id, subject=subject)
        variables = {
            "input": {
                "subscriptionId": global_id.encode("Subscription", sub.id),
                "partnerId": global_id.encode("Partner", partner.id),
                "expectedVersion": version,
            }
        }
        await api.data(SET_DPOR, variables, as_=owner)
    return {
        "customer": customer,
        "elsewhere": elsewhere,
        "first": first,
        "second": second,
        "helper": helper,
        "sub": sub,
    }


async def _read(api: Api, world: dict[str, Any], caller: Any) -> dict[str, Any]:
    return await api.execute(ACTORS, {"id": global_id.encode("Subscription", world["sub"].id)}, as_=caller)


def _subjects(body: dict[str, Any]) -> set[str]:
    rows = ((body.get("data") or {}).get("subscription") or {}).get("partnerAssociations") or []
    return {value for row in rows for value in (row["createdBy"], row["endedBy"]) if value}


def _refused_fields(body: dict[str, Any]) -> set[str]:
    assert {error["extensions"]["code"] for error in body.get("errors", [])} <= {"FORBIDDEN"}, body
    return {error["path"][-1] for error in body.get("errors", [])}


async def test_a_partner_reads_the_actors_role_and_client_never_the_subject(api: Api, database: Database) -> None:
    world = await _world(api, database)
    body = await _read(api, world, principal(Role.PARTNER, partner=world["first"].mpn_id))
    assert OWNER_SUBJECT not in str(body) and REPLACER_SUBJECT not in str(body)
    assert _refused_fields(body) == {"createdBy", "endedBy"}
    (row,) = body["data"]["subscription"]["partnerAssociations"]  # a partner sees the rows naming it
    assert row["createdByRole"] == "OWNER" and row["createdByClientId"] == "test-client"
    assert row["endedByRole"] == "OWNER" and row["endedByClientId"] == "test-client"


async def test_an_admin_of_another_tenant_who_is_also_the_partner_reads_no_subjects(
    api: Api, database: Database
) -> None:
    """Decided per row: being a tenant admin elsewhere gives no right to this tenant's users' subjects."""
    world = await _world(api, database)
    caller = principal(Role.PARTNER, Role.OWNER, tenant=world["elsewhere"].external_id, partner=world["first"].mpn_id)
    body = await _read(api, world, caller)
    assert _subjects(body) == set()
    assert _refused_fields(body) == {"createdBy", "endedBy"}


async def test_tenant_admins_delegated_admins_and_platform_admins_read_subjects(api: Api, database: Database) -> None:
    world = await _world(api, database)
    callers = [
        principal(Role.OWNER, tenant=world["customer"].external_id, subject="another-owner"),
        principal(Role.CO_ADMIN, tenant=world["customer"].external_id),
        # A partner's user acting as the customer's admin while its relationship is active, as the tenant's admins.
        principal(Role.DELEGATED_ADMIN, tenant=world["customer"].external_id, partner=world["helper"].mpn_id),
        principal(Role.PLATFORM_ADMIN),
    ]
    for caller in callers:
        body = await _read(api, world, caller)
        assert "errors" not in body, (caller.roles, body)
        assert _subjects(body) == {OWNER_SUBJECT, REPLACER_SUBJECT}, caller.roles
