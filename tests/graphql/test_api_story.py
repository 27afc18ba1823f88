"""The product story end to end over HTTP: provisioning, DPOR set/replace/remove, partner view, history, audit."""

from __future__ import annotations

import uuid
from typing import Any

from auth.principal import Role
from tests.api import Api, error_codes, principal

ADMIN = principal(Role.PLATFORM_ADMIN, subject="admin-tooling")

CREATE_TENANT = """
mutation($input: CreateTenantInput!) { createTenant(input: $input) { tenant { id externalId displayName } } }
"""
CREATE_PARTNER = """
mutation($input: CreatePartnerInput!) { createPartner(input: $input) { partner { id mpnId } } }
"""
CREATE_SUBSCRIPTION = """
mutation($input: CreateSubscriptionInput!) {
  createSubscription(input: $input) { subscription { id version status } }
}
"""
SET_DPOR = """
mutation($input: SetDigitalPartnerOfRecordInput!) {
  setDigitalPartnerOfRecord(input: $input) {
    changed message
    subscription { id version }
    association { id partner { mpnId } validFrom validTo isActive }
    previousAssociation { id endReason validTo endedBy }
  }
}
"""
REMOVE_DPOR = """
mutation($input: RemoveDigitalPartnerOfRecordInput!) {
  removeDigitalPartnerOfRecord(input: $input) {
    changed subscription { version } previousAssociation { endReason }
  }
}
"""
HISTORY = """
query($id: ID!) {
  subscription(id: $id) {
    version
    digitalPartnerOfRecord { partner { mpnId } }
    associationHistory(first: 10) {
      totalCount
      edges { node { partner { mpnId } type validFrom validTo createdBy endedBy endReason } }
    }
  }
}
"""


async def provision(api: Api, *, tenant_external_id: uuid.UUID, mpn_ids: list[str]) -> dict[str, Any]:
    tenant = (
        await api.data(
            CREATE_TENANT,
            {
                "input": {
                    "externalId": str(tenant_external_id),
                    "displayName": "Contoso",
                    "primaryDomain": "contoso.example",
                    "countryCode": "US",
                }
            },
            as_=ADMIN,
        )
    )["createTenant"]["tenant"]
    partners = [
        (
            await api.data(
                CREATE_PARTNER,
                {"input": {"mpnId": mpn, "name": f"Partner {mpn}", "countryCode": "GB"}},
                as_=ADMIN,
            )
        )["createPartner"]["partner"]
        for mpn in mpn_ids
    ]
    subscription = (
        await api.data(
            CREATE_SUBSCRIPTION,
            {
                "input": {
                    "tenantId": tenant["id"],
                    "externalId": str(uuid.uuid4()),
                    "offer": "AZURE",
                    "displayName": "Production",
                }
            },
            as_=ADMIN,
        )
    )["createSubscription"]["subscription"]
    return {"tenant": tenant, "partners": partners, "subscription": subscription}


async def test_the_whole_story(api: Api) -> None:
    tenant_external_id = uuid.uuid4()
    world = await provision(api, tenant_external_id=tenant_external_id, mpn_ids=["1000001", "1000002"])
    subscription_id = world["subscription"]["id"]
    first_partner, second_partner = world["partners"]
    owner = principal(Role.OWNER, tenant=tenant_external_id, subject="owner-alice")

    # The owner sets a DPOR.
    result = (
        await api.data(
            SET_DPOR,
            {
                "input": {
                    "subscriptionId": subscription_id,
                    "partnerId": first_partner["id"],
                    "expectedVersion": 1,
                }
            },
            as_=owner,
        )
    )["setDigitalPartnerOfRecord"]
    assert result["changed"] is True
    assert result["subscription"]["version"] == 2
    assert result["association"]["partner"]["mpnId"] == "1000001"
    assert result["previousAssociation"] is None

    # A service admin and a delegated admin are refused, and nothing changes.
    await api.data(
        """mutation($input: CreateDelegatedAdminRelationshipInput!) {
        createDelegatedAdminRelationship(input: $input) { relationship { status } } }""",
        {"input": {"tenantId": world["tenant"]["id"], "partnerId": second_partner["id"]}},
        as_=ADMIN,
    )
    for refused in (
        principal(Role.SERVICE_ADMIN, tenant=tenant_external_id),
        principal(Role.DELEGATED_ADMIN, tenant=tenant_external_id, partner="1000002"),
        ADMIN,
    ):
        body = await api.execute(
            SET_DPOR,
            {
                "input": {
                    "subscriptionId": subscription_id,
                    "partnerId": second_partner["id"],
                    "expectedVersion": 2,
                }
            },
            as_=refused,
        )
        assert error_codes(body) == ["FORBIDDEN"], body

    # The owner replaces it, then removes it.
    result = (
        await api.data(
            SET_DPOR,
            {
                "input": {
                    "subscriptionId": subscription_id,
                    "partnerId": second_partner["id"],
                    "expectedVersion": 2,
                }
            },
            as_=owner,
        )
    )["setDigitalPartnerOfRecord"]
    assert result["previousAssociation"]["endReason"] == "REPLACED"
    assert result["previousAssociation"]["validTo"] == result["association"]["validFrom"]
    removed = (
        await api.data(REMOVE_DPOR, {"input": {"subscriptionId": subscription_id, "expectedVersion": 3}}, as_=owner)
    )["removeDigitalPartnerOfRecord"]
    assert removed == {
        "changed": True,
        "subscription": {"version": 4},
        "previousAssociation": {"endReason": "REMOVED_BY_OWNER"},
    }

    # The history shows all three rows with actors and reasons, newest first.
    history = (await api.data(HISTORY, {"id": subscription_id}, as_=owner))["subscription"]
    assert history["version"] == 4
    assert history["digitalPartnerOfRecord"] is None
    rows = [edge["node"] for edge in history["associationHistory"]["edges"]]
    assert history["associationHistory"]["totalCount"] == 2
    assert [(row["partner"]["mpnId"], row["endReason"], row["createdBy"], row["endedBy"]) for row in rows] == [
        ("1000002", "REMOVED_BY_OWNER", "owner-alice", "owner-alice"),
        ("1000001", "REPLACED", "owner-alice", "owner-alice"),
    ]

    # The first partner sees the subscription among its attributed ones, with its window.
    partner = principal(Role.PARTNER, partner="1000001")
    attributed = (
        await api.data(
            """{ attributedSubscriptions(first: 10) {
        totalCount edges { node { id tenant { displayName countryCode } }
                           associations { type validFrom validTo endReason } } } }""",
            as_=partner,
        )
    )["attributedSubscriptions"]
    assert attributed["totalCount"] == 1
    edge = attributed["edges"][0]
    assert edge["node"] == {"id": subscription_id, "tenant": {"displayName": "Contoso", "countryCode": "US"}}
    assert [a["endReason"] for a in edge["associations"]] == ["REPLACED"]
    assert edge["associations"][0]["validTo"] == rows[1]["validTo"]

    # The audit log has every mutation, with the actor and role.
    audit = (
        await api.data("""{ auditEvents(first: 50) { edges { node { action actorSubject actorRole } } } }""", as_=ADMIN)
    )["auditEvents"]["edges"]
    actions = [edge["node"]["action"] for edge in audit]
    assert sorted(actions) == sorted(
        [
            "createTenant",
            "createPartner",
            "createPartner",
            "createSubscription",
            "createDelegatedAdminRelationship",
            "setDigitalPartnerOfRecord",
            "setDigitalPartnerOfRecord",
            "removeDigitalPartnerOfRecord",
        ]
    )
    owner_events = [edge["node"] for edge in audit if edge["node"]["actorSubject"] == "owner-alice"]
    assert {event["actorRole"] for event in owner_events} == {"OWNER"}
    owners_view = (await api.data("{ auditEvents(first: 50) { totalCount } }", as_=owner))["auditEvents"]
    # The tenant's own six events; the partners' creation concerns no tenant.
    assert owners_view["totalCount"] == 6
