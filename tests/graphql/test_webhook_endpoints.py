"""Webhook endpoints over HTTP (resolvers/webhooks/endpoints.py) and their URL checks (addresses.py)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import select

from auth.principal import Role
from db.audit import AuditEvent
from db.engine import Database
from resolvers.errors import BadUserInput
from resolvers.webhooks.addresses import AddressRefused, checked_url, resolve_public
from tests import factories
from tests.api import Api, api_for, error_codes, principal

CREATE = """mutation($i: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $i) {
    secret endpoint { id url eventTypes description enabled ownerPartnerId ownerTenantId }
  }
}"""
LIST = "{ webhookEndpoints { id url enabled } }"
UPDATE = (
    "mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) { endpoint { url eventTypes } } }"
)
DISABLE = "mutation($i: WebhookEndpointInput!) { disableWebhookEndpoint(input: $i) { endpoint { enabled } } }"
ROTATE = "mutation($i: WebhookEndpointInput!) { rotateWebhookSecret(input: $i) { secret } }"
DELETE = "mutation($i: WebhookEndpointInput!) { deleteWebhookEndpoint(input: $i) { deletedEndpointId } }"
URL = "https://hooks.example.com/dpor"


async def _callers(database: Database) -> dict[str, Any]:
    tenant, other_tenant = factories.tenant(), factories.tenant()
    partner, other_partner = factories.partner(), factories.partner()
    async with database.write() as session:
        await factories.add_flushed(session, tenant, other_tenant, partner, other_partner)
    return {
        "owner": principal(Role.OWNER, tenant=tenant.external_id),
        "other-owner": principal(Role.OWNER, tenant=other_tenant.external_id),
        "co-admin": principal(Role.CO_ADMIN, tenant=tenant.external_id),
        "partner": principal(Role.PARTNER, partner=partner.mpn_id),
        "other-partner": principal(Role.PARTNER, partner=other_partner.mpn_id),
        "platform-admin": principal(Role.PLATFORM_ADMIN),
    }


def _create(url: str = URL, types: list[str] | None = None) -> dict[str, Any]:
    return {"i": {"url": url, "eventTypes": ["association.dpor_set"] if types is None else types, "description": "ops"}}


async def test_the_whole_life_of_a_partner_endpoint_is_its_own(api: Api, database: Database) -> None:
    callers = await _callers(database)
    made = (await api.data(CREATE, _create(), as_=callers["partner"]))["createWebhookEndpoint"]
    secret, endpoint = made["secret"], made["endpoint"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert endpoint["ownerPartnerId"] and endpoint["ownerTenantId"] is None
    assert (await api.data(LIST, as_=callers["partner"]))["webhookEndpoints"] == [
        {"id": endpoint["id"], "url": URL, "enabled": True}
    ]
    # Nobody else reaches it, not even to learn that it exists.
    for caller in ("other-partner", "owner"):
        assert (await api.data(LIST, as_=callers[caller]))["webhookEndpoints"] == []
        for document in (DISABLE, ROTATE, DELETE):
            body = await api.execute(document, {"i": {"endpointId": endpoint["id"]}}, as_=callers[caller])
            assert error_codes(body) == ["NOT_FOUND"], (caller, body)
    for caller in ("co-admin", "platform-admin"):
        assert error_codes(await api.execute(CREATE, _create(), as_=callers[caller])) == ["FORBIDDEN"]
    changed = {"i": {"endpointId": endpoint["id"], "eventTypes": ["claim.created", "association.dpor_replaced"]}}
    updated = (await api.data(UPDATE, changed, as_=callers["partner"]))["updateWebhookEndpoint"]["endpoint"]
    assert updated["eventTypes"] == ["association.dpor_replaced", "claim.created"]
    rotated = await api.data(ROTATE, {"i": {"endpointId": endpoint["id"]}}, as_=callers["partner"])
    assert rotated["rotateWebhookSecret"]["secret"] not in (secret, None)
    disabled = await api.data(DISABLE, {"i": {"endpointId": endpoint["id"]}}, as_=callers["partner"])
    assert disabled["disableWebhookEndpoint"]["endpoint"]["enabled"] is False
    await api.data(DELETE, {"i": {"endpointId": endpoint["id"]}}, as_=callers["partner"])
    assert (await api.data(LIST, as_=callers["partner"]))["webhookEndpoints"] == []
    # Audited, never with the secret.
    async with database.read() as session:
        audited = (await session.scalars(select(AuditEvent).where(AuditEvent.target_type == "WebhookEndpoint"))).all()
    assert [event.action for event in audited] == [
        "createWebhookEndpoint",
        "updateWebhookEndpoint",
        "rotateWebhookSecret",
        "disableWebhookEndpoint",
        "deleteWebhookEndpoint",
    ]
    assert not any(secret in str((event.before, event.after)) for event in audited)


async def test_the_secret_is_shown_by_create_and_rotate_only(api: Api, database: Database) -> None:
    callers = await _callers(database)
    made = (await api.data(CREATE, _create(), as_=callers["partner"]))["createWebhookEndpoint"]
    rotated = await api.data(ROTATE, {"i": {"endpointId": made["endpoint"]["id"]}}, as_=callers["partner"])
    secrets = {made["secret"], rotated["rotateWebhookSecret"]["secret"]}
    # Every field the endpoint type has, whatever is added to it later, read back after both.
    introspected = await api.data('{ __type(name: "WebhookEndpoint") { fields { name } } }', as_=callers["partner"])
    fields = " ".join(field["name"] for field in introspected["__type"]["fields"])
    everything = str(await api.data(f"{{ webhookEndpoints {{ {fields} }} }}", as_=callers["partner"]))
    assert made["endpoint"]["id"] in everything
    assert not any(secret in everything for secret in secrets)
    assert not any(secret.removeprefix("whsec_") in everything for secret in secrets)


async def test_a_tenant_owners_endpoint_belongs_to_its_tenant(api: Api, database: Database) -> None:
    callers = await _callers(database)
    made = (await api.data(CREATE, _create(), as_=callers["owner"]))["createWebhookEndpoint"]["endpoint"]
    assert made["ownerTenantId"] and made["ownerPartnerId"] is None
    assert [row["id"] for row in (await api.data(LIST, as_=callers["owner"]))["webhookEndpoints"]] == [made["id"]]
    assert (await api.data(LIST, as_=callers["other-owner"]))["webhookEndpoints"] == []
    body = await api.execute(DELETE, {"i": {"endpointId": made["id"]}}, as_=callers["other-owner"])
    assert error_codes(body) == ["NOT_FOUND"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/x", "SCHEME"),
        ("ftp://hooks.example.com/x", "SCHEME"),
        ("https://127.0.0.1/x", "PRIVATE_ADDRESS"),
        ("https://10.1.2.3/x", "PRIVATE_ADDRESS"),
        ("https://192.168.0.10/x", "PRIVATE_ADDRESS"),
        ("https://169.254.169.254/latest/meta-data", "PRIVATE_ADDRESS"),
        ("https://100.100.100.200/x", "PRIVATE_ADDRESS"),
        ("https://[::1]/x", "PRIVATE_ADDRESS"),
        ("https://[fd00:ec2::254]/x", "PRIVATE_ADDRESS"),
        ("https://[::ffff:127.0.0.1]/x", "PRIVATE_ADDRESS"),
        ("https://0.0.0.0/x", "PRIVATE_ADDRESS"),
        ("https://localhost/x", "PRIVATE_ADDRESS"),
        ("https://api.localhost/x", "PRIVATE_ADDRESS"),
        ("https://metadata.google.internal/x", "PRIVATE_ADDRESS"),
        ("https://intranet/x", "PRIVATE_ADDRESS"),
        ("https://user:pass@hooks.example.com/x", "CREDENTIALS"),
        ("https:///x", "MALFORMED"),
    ],
)
def test_urls_into_the_gateways_own_network_are_refused(url: str, reason: str) -> None:
    with pytest.raises(BadUserInput) as refused:
        checked_url(url, allow_private=False)
    assert refused.value.extensions["reason"] == reason
    assert refused.value.extensions["field"] == "url"


@pytest.mark.parametrize("url", [URL, "https://8.8.8.8:8443/in?x=1", "https://[2606:4700:4700::1111]/in"])
def test_public_https_urls_are_accepted(url: str) -> None:
    assert checked_url(url, allow_private=False) == url


async def test_the_setting_lets_tests_and_development_reach_a_local_receiver(database: Database) -> None:
    callers = await _callers(database)
    local = "http://127.0.0.1:9/hook"
    async with api_for(database) as strict:
        body = await strict.execute(CREATE, _create(local), as_=callers["partner"])
        assert error_codes(body) == ["BAD_USER_INPUT"] and body["errors"][0]["extensions"]["reason"] == "SCHEME"
    async with api_for(database, webhook_allow_private_addresses=True) as lenient:
        made = await lenient.data(CREATE, _create(local), as_=callers["partner"])
        assert made["createWebhookEndpoint"]["endpoint"]["url"] == local


async def test_unknown_event_types_are_refused_with_the_known_list(api: Api, database: Database) -> None:
    callers = await _callers(database)
    body = await api.execute(CREATE, _create(types=["association.dpor_set", "usage.ingested"]), as_=callers["owner"])
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["unknown"] == ["usage.ingested"]
    assert error_codes(await api.execute(CREATE, _create(types=[]), as_=callers["owner"])) == ["BAD_USER_INPUT"]


async def test_at_connection_every_resolved_address_is_checked() -> None:
    # `localhost` passes no creation check, and resolves to loopback at connection: refused there too.
    with pytest.raises(AddressRefused):
        await resolve_public("localhost", 443, allow_private=False)
    with pytest.raises(AddressRefused):
        await resolve_public("169.254.169.254", 80, allow_private=False)
    assert await resolve_public("127.0.0.1", 80, allow_private=True) == "127.0.0.1"
    assert await resolve_public("[::1]", 80, allow_private=True) == "::1"
